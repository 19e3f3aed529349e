// policy/v1 PodDisruptionBudget is served (stored, listed, in discovery), as deploy/overlays/prod
// ships one for istiod-lite: kubectl apply of that overlay failed with "no matches for kind
// PodDisruptionBudget in version policy/v1".
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call, kubectl, startTestServer, type TestServer } from './harness.ts';

const PDB = `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: default}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: web}}
`;

describe('PodDisruptionBudget (policy/v1)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t.cleanup();
  });

  it('is in discovery, namespaced, with the short name pdb', async () => {
    const res = await call(t.server, 'GET', '/apis/policy/v1');
    assert.equal(res.status, 200, res.text);
    const pdb = res.json.resources.find((r: { name: string }) => r.name === 'poddisruptionbudgets');
    assert.deepEqual([pdb.kind, pdb.namespaced, pdb.shortNames], ['PodDisruptionBudget', true, ['pdb']]);
  });

  it('applies with kubectl, server dry run first, and reads back by short name', async () => {
    const file = join(t.dataDir, 'pdb.yaml');
    writeFileSync(file, PDB);
    const dry = await kubectl('v1.34', t.server, ['apply', '--dry-run=server', '-f', file]);
    assert.match(dry.stdout, /poddisruptionbudget\.policy\/web created \(server dry run\)/, dry.stderr);
    const applied = await kubectl('v1.34', t.server, ['apply', '-f', file]);
    assert.match(applied.stdout, /poddisruptionbudget\.policy\/web created/, applied.stderr);
    const got = await kubectl('v1.34', t.server, ['get', 'pdb', 'web', '-o', 'jsonpath={.spec.minAvailable}']);
    assert.equal(got.stdout, '1', got.stderr);
  });
});

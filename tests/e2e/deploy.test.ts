// `kubectl apply -k deploy/` — the "run it for real" manifests — applies cleanly with the real
// kubectl against the embedded API server, and re-applying changes nothing.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { startApiServer, type ApiServer } from '@ambient/local-cluster/apiserver';

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '../..');
const kubectl = join(repo, '.cache/kubectl/v1.34/kubectl');

describe('deploy/ kustomize base', function () {
  this.timeout(60_000);
  let dataDir: string;
  let api: ApiServer;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'deploy-'));
    api = await startApiServer({ dataDir, port: 0, logger: pino({ level: 'silent' }) });
    env = { ...process.env, KUBECONFIG: api.kubeconfigPath };
  });
  after(async () => {
    await api?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('applies with kubectl apply -k and re-applies unchanged', async () => {
    const first = await run(kubectl, ['apply', '-k', join(repo, 'deploy')], { env, encoding: 'utf8' });
    assert.match(first.stdout, /deployment\.apps\/istiod-lite created/);
    assert.match(first.stdout, /customresourcedefinition\.apiextensions\.k8s\.io\/authorizationpolicies\.security\.istio\.io created/);
    assert.match(first.stdout, /clusterrole\.rbac\.authorization\.k8s\.io\/istiod-lite created/);
    const again = await run(kubectl, ['apply', '-k', join(repo, 'deploy')], { env, encoding: 'utf8' });
    assert.doesNotMatch(again.stdout, /created|configured/);
    const svc = JSON.parse((await run(kubectl, ['get', 'service', 'istiod', '-n', 'istio-system', '-o', 'json'], { env, encoding: 'utf8' })).stdout);
    assert.deepEqual(
      svc.spec.ports.map((p: { port: number }) => p.port),
      [15012, 443, 15014],
    );
  });
});

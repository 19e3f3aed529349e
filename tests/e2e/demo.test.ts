// Keeps the README's quick start true: the `npm start` walkthrough succeeds end to end and
// leaves nothing behind.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '../..');

describe('npm start (the demo walkthrough, --once)', function () {
  this.timeout(120_000);

  it('shows calls across nodes, then through ztunnel over mTLS with identities, a denied call, STRICT refusing plaintext, and tears everything down', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'demo-e2e-'));
    try {
      const { stdout } = await run(process.execPath, [join(repo, 'local-cluster/src/demo.ts'), '--once', '--data', dataDir, '--port', '0'], { encoding: 'utf8', timeout: 110_000 });
      const hop = /pod→pod \((node-\d) → (node-\d)\)[^\n]*\n\s+200 from pod echo-\S+ on (node-\d)/.exec(stdout);
      assert.ok(hop, stdout);
      assert.notEqual(hop[1], hop[2], 'the pod→pod call crosses nodes');
      assert.equal(hop[3], hop[2]);
      const serviceReplies = stdout.split('pod→service')[1]!.match(/200 from pod echo-\S+ on node-\d/g) ?? [];
      assert.equal(serviceReplies.length, 4);
      assert.match(stdout, /export KUBECONFIG=/);
      assert.match(stdout, /now sends them to ztunnel as HBONE workloads/);
      assert.match(stdout, /echo-\S+\s+node-\d\s+spiffe:\/\/cluster\.local\/ns\/demo\/sa\/echo/);
      assert.match(stdout, /through ztunnel over mTLS[^\n]*\n\s+ok: 2 replies/);
      assert.match(stdout, /source_principal="spiffe:\/\/cluster\.local\/ns\/demo\/sa\/sleep",\s+destination_principal="spiffe:\/\/cluster\.local\/ns\/demo\/sa\/echo", connection_security_policy="mutual_tls"/);
      assert.match(stdout, /the same call is now refused by the destination ztunnel/);
      assert.match(stdout, /without PeerAuthentication \(PERMISSIVE\): admitted/);
      assert.match(stdout, /with STRICT: refused by ztunnel/);
      assert.match(stdout, /sleep → echo: ok/);
      const netns = (await run('ip', ['netns', 'list'], { encoding: 'utf8' })).stdout;
      const clusterNetns = netns.split('\n').filter((l) => /^lc[0-9a-f]{6}-/.test(l));
      // Other clusters (parallel runs) may exist; none of this data dir's may remain.
      const { clusterIdFor } = await import('@ambient/local-cluster/runtime');
      assert.deepEqual(clusterNetns.filter((l) => l.startsWith(`lc${clusterIdFor(dataDir)}-`)), []);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

import assert from 'node:assert/strict';
import { istiodProcess, istiodSocket, meshRootCertFile, proxyControlPlaneEnv, ztunnelDaemonSet } from '../src/mesh.ts';

/** The value following `flag` on a command line (undefined when the flag is absent). */
function flag(command: string[], name: string): string | undefined {
  const i = command.indexOf(name);
  return i < 0 ? undefined : command[i + 1];
}

describe('mesh on the local cluster', () => {
  const dataDir = '/tmp/lc-data';

  it('reaches istiod-lite on its Unix socket and reads the root from the file deployZtunnel writes', () => {
    assert.deepEqual(proxyControlPlaneEnv(dataDir), { ISTIOD_ADDRESS: `unix:${istiodSocket(dataDir)}`, ROOT_CERT_FILE: meshRootCertFile(dataDir) });
  });

  it('tells istiod-lite to give waypoint pods the same socket and root file as ztunnel gets', () => {
    const command = istiodProcess(dataDir, true).command;
    const env = Object.fromEntries(ztunnelDaemonSet(dataDir).spec!.template.spec!.containers[0]!.env!.map((e) => [e.name, e.value]));
    assert.equal(flag(command, '--uds'), istiodSocket(dataDir));
    assert.equal(flag(command, '--waypoint-istiod-address'), env.ISTIOD_ADDRESS);
    assert.equal(flag(command, '--waypoint-root-cert-file'), env.ROOT_CERT_FILE);
    assert.equal(env.ISTIOD_ADDRESS, `unix:${istiodSocket(dataDir)}`);
  });

  it('leaves the token file to the kubelet (it sets AMBIENT_SA_TOKEN_FILE; a Deployment value would replace it)', () => {
    const command = istiodProcess(dataDir, false).command;
    assert.equal(flag(command, '--waypoint-token-file'), '');
    const ztunnelEnv = ztunnelDaemonSet(dataDir).spec!.template.spec!.containers[0]!.env!.map((e) => e.name);
    assert.ok(!ztunnelEnv.includes('AMBIENT_SA_TOKEN_FILE'));
  });
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Container, V1DaemonSet } from '@kubernetes/client-node';
import { loadAll } from 'js-yaml';
import { repoRoot } from '../src/cluster.ts';
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

  it('lets waypoint pods read the token their Deployment projects (no --waypoint-token-file override)', () => {
    assert.equal(flag(istiodProcess(dataDir, false).command, '--waypoint-token-file'), undefined);
  });

  it("projects ztunnel's token with audience istio-ca, as deploy/daemonset/ztunnel.yaml does (regression: the local cluster ran ztunnel with an API-server token)", () => {
    const real = (loadAll(readFileSync(join(repoRoot, 'deploy/daemonset/ztunnel.yaml'), 'utf8')) as V1DaemonSet[]).find((o) => o.kind === 'DaemonSet')!;
    const tokenSetup = (ds: V1DaemonSet) => {
      const spec = ds.spec!.template.spec!;
      const container = spec.containers[0] as V1Container;
      return {
        volume: spec.volumes?.find((v) => v.name === 'istio-token'),
        mount: container.volumeMounts?.find((m) => m.name === 'istio-token'),
        env: container.env?.find((e) => e.name === 'AMBIENT_SA_TOKEN_FILE'),
      };
    };
    const local = tokenSetup(ztunnelDaemonSet(dataDir));
    assert.equal(local.volume?.projected?.sources?.[0]?.serviceAccountToken?.audience, 'istio-ca');
    assert.deepEqual(local, tokenSetup(real));
  });
});

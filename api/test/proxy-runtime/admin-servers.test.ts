import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { startAdminServers, type AdminServers } from '../../src/proxy-runtime/admin-servers.ts';

describe('admin servers', () => {
  let admin: AdminServers | undefined;
  afterEach(async () => {
    await admin?.close();
    admin = undefined;
  });

  it('serves each port only its own paths, and readiness once ready', async () => {
    let why: string | undefined = 'discovery pending, node agent synced';
    admin = await startAdminServers({
      host: '127.0.0.1',
      ports: { admin: 0, metrics: 0, readiness: 0 },
      registry: new Registry(),
      configDump: () => ({ node: 'n1' }),
      notReady: () => why,
    });
    assert.deepEqual(await (await fetch(admin.adminUrl)).json(), { node: 'n1' });
    assert.equal((await fetch(admin.metricsUrl)).status, 200);
    assert.equal((await fetch(admin.metricsUrl.replace('/metrics', '/config_dump'))).status, 404, 'no config dump on the metrics port');
    const notReady = await fetch(admin.readyUrl);
    assert.deepEqual([notReady.status, await notReady.text()], [503, 'not ready: discovery pending, node agent synced\n']);
    why = undefined;
    assert.equal((await fetch(admin.readyUrl)).status, 200);
  });

  it('serves metrics and readiness on probeHost and keeps the dump on host', async () => {
    admin = await startAdminServers({
      host: '127.0.0.1',
      probeHost: '127.0.0.2',
      ports: { admin: 0, metrics: 0, readiness: 0 },
      registry: new Registry(),
      configDump: () => ({}),
      notReady: () => undefined,
    });
    assert.match(admin.readyUrl, /^http:\/\/127\.0\.0\.2:/);
    assert.equal((await fetch(admin.readyUrl)).status, 200);
    assert.equal((await fetch(admin.metricsUrl)).status, 200);
    const dumpPort = new URL(admin.adminUrl).port;
    await assert.rejects(fetch(`http://127.0.0.2:${dumpPort}/config_dump`), 'the dump is not on the probe address');
    assert.equal((await fetch(admin.adminUrl)).status, 200);
  });
});

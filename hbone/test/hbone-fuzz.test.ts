import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { HbonePool } from '../src/hbone-pool.ts';
import { CLIENT_ID, SERVER_ID, clientContext, meshCa, closeHarness, exchange, startHarness, type Harness } from './hbone-fixtures.ts';

// Malformed inputs on the HBONE port: each must end only its own connection.
const rawInputs: Array<[string, Buffer]> = [
  ['plain HTTP/1', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
  ['an HTTP/2 preface without TLS', Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')],
  ['a truncated TLS record header', Buffer.from([0x16, 0x03, 0x01, 0x02])],
  ['a TLS handshake record full of zeros', Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x40]), Buffer.alloc(64)])],
  ...Array.from({ length: 6 }, (_, i): [string, Buffer] => [`${16 << i} random bytes`, crypto.randomBytes(16 << i)]),
];

function sendRaw(port: number, payload: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write(payload));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('server kept a garbage connection open'));
    }, 5000);
    socket.on('error', () => {});
    socket.resume();
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function tlsClose(port: number, options: tls.ConnectionOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, checkServerIdentity: () => undefined, ...options });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('server kept the connection open'));
    }, 5000);
    socket.on('error', () => {});
    socket.resume();
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

describe('HBONE listener under malformed input', () => {
  let h: Harness | undefined;
  let pool: HbonePool | undefined;
  afterEach(async () => {
    pool?.close();
    await closeHarness(h);
    h = undefined;
  });

  it('closes each malformed connection, counts it, and keeps serving a held and a new stream', async () => {
    h = await startHarness({ handshakeTimeoutMs: 500 });
    pool = new HbonePool();
    const request = {
      source: { identity: CLIENT_ID, context: clientContext },
      destination: { ip: '10.0.0.9', port: 80 },
      hboneAddress: { ip: '127.0.0.1', port: h.port },
      expectedIdentities: [SERVER_ID],
    };
    const held = await pool.connect(request);

    for (const [, payload] of rawInputs) await sendRaw(h.port, payload);
    await tlsClose(h.port, { secureContext: clientContext }); // TLS without ALPN
    await tlsClose(h.port, { secureContext: clientContext, ALPNProtocols: ['http/1.1'] });
    await tlsClose(h.port, { ca: meshCa.certPem, ALPNProtocols: ['h2'], maxVersion: 'TLSv1.2' }); // TLS 1.2

    const refused = Object.values(h.server.stats.refused).reduce((a, b) => a + (b ?? 0), 0);
    assert.equal(refused, rawInputs.length + 3, JSON.stringify(h.server.stats.refused));
    assert.equal(await exchange(held, 'held'), 'echo:held', 'a stream open during the fuzzing is untouched');
    assert.equal(await exchange(await pool.connect(request), 'new'), 'echo:new');
  });
});

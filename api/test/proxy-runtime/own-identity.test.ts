// A waypoint's or sidecar's own identity against a real gRPC CA on loopback: no certificate
// before the first issuance (ERR_CERT_UNAVAILABLE), then a TLS context for exactly it.
import assert from 'node:assert/strict';
import pino from 'pino';
import { type IdentityError, ownIdentity } from '../../src/proxy-runtime/index.ts';
import { TestCaServer } from '../../src/testing/test-ca-server.ts';

const ALICE = 'spiffe://cluster.local/ns/shop/sa/alice';

describe('ownIdentity', () => {
  const caServer = new TestCaServer();
  before(() => caServer.start());
  after(() => caServer.stop());

  it('refuses a certificate until one is issued, then serves it, without impersonation', async () => {
    const own = ownIdentity(ALICE, { istiodAddress: caServer.address, rootCertPem: caServer.ca.certPem, token: () => 't' }, pino({ level: 'silent' }));
    try {
      assert.throws(
        () => own.certificate(),
        (err: IdentityError) => err.code === 'ERR_CERT_UNAVAILABLE' && err.message.includes(ALICE),
      );
      await own.secrets.fetch(ALICE);
      const context = own.certificate();
      assert.ok(context.context, 'a TLS context');
      assert.equal(own.secrets.current(ALICE)?.secureContext, context);
      assert.equal(caServer.calls.at(-1)?.request.impersonatedIdentity || undefined, undefined, 'asked for its own identity, not as ztunnel would');
    } finally {
      own.close();
    }
  });
});

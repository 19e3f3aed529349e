// Regression: the checks of a client certificate run inside the TLS socket's 'secure' event
// handler, where an exception escapes to the process (uncaughtException) instead of refusing one
// connection: one hostile client would take down every connection of the node's ztunnel. The
// handler must refuse the connection with an outcome whatever throws in it. Node's own parsers
// did not throw on the hostile certificates we tried (an issuer with an undecodable key, SM2 or
// explicit-curve keys, malformed validity times), so the tests make the checks throw through
// what is injected into them: the validity clock, and the caller's refusal callback.
import assert from 'node:assert/strict';
import { capturingLogger } from '@ambient/api/testing';
import { createCertificateAuthority } from '@ambient/api';
import { HbonePool } from '../src/hbone-pool.ts';
import { HboneError } from '../src/hbone-error.ts';
import type { ConnectionRefusal } from '../src/hbone-server.ts';
import { CLIENT_ID, SERVER_ID, clientContext, closeHarness, exchange, meshCa, startHarness, until, workloadContext, type Harness } from './hbone-fixtures.ts';

const target = (port: number, context = clientContext) => ({
  source: { identity: CLIENT_ID, context },
  destination: { ip: '10.244.2.7', port: 8080 },
  hboneAddress: { ip: '127.0.0.1', port },
  expectedIdentities: [SERVER_ID],
});

describe('HBONE server: nothing throws out of its event handlers', () => {
  let h: Harness | undefined;
  let pool: HbonePool | undefined;
  afterEach(async () => {
    pool?.close();
    await closeHarness(h);
    h = pool = undefined;
  });

  it('secure_handler_throw: a certificate check that throws refuses that connection as untrusted_chain, and the server serves the next', async () => {
    const refusals: ConnectionRefusal[] = [];
    const { logger, lines } = capturingLogger();
    let hostile = true;
    h = await startHarness({
      logger,
      now: () => {
        if (hostile) throw new TypeError('cannot read the validity of the client certificate');
        return Date.now();
      },
      onConnectionRefused: (r) => refusals.push(r),
    });
    pool = new HbonePool();
    await assert.rejects(pool.connect(target(h.port)), HboneError);
    await until(() => h!.server.stats.refused.untrusted_chain === 1, 'the refusal to be counted');
    assert.equal(refusals[0]?.outcome, 'untrusted_chain');
    assert.match(refusals[0]!.detail, /cannot read the validity/);
    assert.equal(h.server.stats.connections, 0);
    assert.ok(
      lines.some((l) => l.level === 50 && (l.err as { message?: string } | undefined)?.message === 'cannot read the validity of the client certificate'),
      'logged once with the error object',
    );
    hostile = false;
    assert.equal(await exchange(await pool.connect(target(h.port)), 'next'), 'echo:next');
  });

  it('secure_handler_throw: a refusal callback that throws still closes and counts the refused connection', async () => {
    const { logger, lines } = capturingLogger();
    h = await startHarness({
      logger,
      onConnectionRefused: () => {
        throw new RangeError('access log sink failed');
      },
    });
    pool = new HbonePool();
    const foreign = workloadContext(CLIENT_ID, createCertificateAuthority({ commonName: 'foreign root' }), meshCa.certPem);
    await assert.rejects(pool.connect(target(h.port, foreign)), HboneError);
    await until(() => h!.server.stats.refused.untrusted_chain === 1, 'the refusal to be counted');
    assert.ok(lines.some((l) => (l.err as { message?: string } | undefined)?.message === 'access log sink failed'));
    assert.equal(await exchange(await pool.connect(target(h.port)), 'next'), 'echo:next');
  });

  it('stream_handler_throw: a stream-closed callback that throws is logged, and the server serves the next stream', async () => {
    const { logger, lines } = capturingLogger();
    let calls = 0;
    h = await startHarness({
      logger,
      onStreamClosed: () => {
        calls++;
        throw new RangeError('metrics sink failed');
      },
    });
    pool = new HbonePool();
    assert.equal(await exchange(await pool.connect(target(h.port)), 'one'), 'echo:one');
    await until(() => calls === 1, 'the first stream to be reported');
    assert.equal(await exchange(await pool.connect(target(h.port)), 'two'), 'echo:two');
    await until(() => lines.some((l) => (l.err as { message?: string } | undefined)?.message === 'metrics sink failed'), 'the failure to be logged');
  });
});

// Regression: a stream became a live stream (activeStreams, what a policy change re-checks) only
// once its upstream was connected, after authorization. A DENY that landed while the stream was
// being authorized or dialed re-checked everything live, missed it, and the stream was then
// relayed under the policy that denies it. The upstream dial here waits for the test, so the
// policy change lands exactly in that window.
import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import { HbonePool } from '../src/hbone-pool.ts';
import type { InboundRecord } from '../src/hbone-server.ts';
import { CLIENT_ID, SERVER_ID, clientContext, closeHarness, connectTcp, startHarness, until, type Harness } from './hbone-fixtures.ts';

const request = (port: number) => ({
  source: { identity: CLIENT_ID, context: clientContext },
  destination: { ip: '10.244.2.7', port: 8080 },
  hboneAddress: { ip: '127.0.0.1', port },
  expectedIdentities: [SERVER_ID],
});

/** A promise the test settles, and one that says when the server started waiting on it. */
function gate(): { wait: Promise<void>; open: () => void; entered: Promise<void>; enter: () => void } {
  let open!: () => void;
  let enter!: () => void;
  const wait = new Promise<void>((r) => {
    open = r;
  });
  const entered = new Promise<void>((r) => {
    enter = r;
  });
  return { wait, open, entered, enter };
}

describe('HBONE server: a policy change while a stream is authorized or dialed', () => {
  let h: Harness | undefined;
  let pool: HbonePool | undefined;
  afterEach(async () => {
    pool?.close();
    await closeHarness(h);
    h = pool = undefined;
  });

  it('recheck_race: a stream whose upstream is still dialing is live, and closing it answers 401 and drops the upstream', async () => {
    const dial = gate();
    const records: InboundRecord[] = [];
    let upstream: Duplex | undefined;
    h = await startHarness({
      connectUpstream: async () => {
        dial.enter();
        await dial.wait;
        upstream = await connectTcp({ host: '127.0.0.1', port: h!.echo.port });
        return upstream;
      },
      onStreamClosed: (r) => records.push(r),
    });
    pool = new HbonePool();
    const connecting = pool.connect(request(h.port));
    await dial.entered; // authorized, now dialing
    assert.equal(h.server.activeStreams.length, 1, 'the stream is live while its upstream is dialed');
    h.server.activeStreams[0]!.close('policy_closed', 'denied by policy shop/deny-all');
    await assert.rejects(connecting, { code: 'ERR_HBONE_DENIED', status: 401 });
    dial.open();
    await until(() => upstream?.destroyed === true, 'the late upstream to be dropped');
    await until(() => records.length === 1, 'the stream to be reported');
    assert.deepEqual([records[0]!.outcome, records[0]!.status, records[0]!.detail], ['denied', 401, 'denied by policy shop/deny-all']);
    assert.equal(h.server.activeStreams.length, 0);
    assert.ok(
      h.echo.received.every((bytes) => bytes === ''),
      'nothing was relayed',
    );
  });

  it('recheck_race: a stream still being authorized is live too, and is refused when authorization allows it', async () => {
    const authorizing = gate();
    const records: InboundRecord[] = [];
    h = await startHarness({
      authorize: async () => {
        authorizing.enter();
        await authorizing.wait;
        return { allow: true };
      },
      onStreamClosed: (r) => records.push(r),
    });
    pool = new HbonePool();
    const connecting = pool.connect(request(h.port));
    await authorizing.entered;
    assert.equal(h.server.activeStreams.length, 1);
    h.server.activeStreams[0]!.close('policy_closed', 'denied by policy shop/deny-all');
    await assert.rejects(connecting, { code: 'ERR_HBONE_DENIED' });
    authorizing.open();
    await until(() => h!.server.activeStreams.length === 0, 'the authorization in flight to return and stop');
    assert.deepEqual(
      records.map((r) => r.outcome),
      ['denied'],
    );
    assert.equal(h.server.stats.refused.denied, 1);
  });

  // Regression (found by the waypoint's drain, which waits for activeStreams to empty when a
  // stream is reported): registering streams before authorization reported them while still live.
  it('a stream has left activeStreams when onStreamClosed reports it, relayed or refused while dialing', async () => {
    const dial = gate();
    const liveWhenReported: number[] = [];
    let holdDial = false;
    h = await startHarness({
      connectUpstream: async () => {
        if (holdDial) {
          dial.enter();
          await dial.wait;
        }
        return connectTcp({ host: '127.0.0.1', port: h!.echo.port });
      },
      onStreamClosed: () => liveWhenReported.push(h!.server.activeStreams.length),
    });
    pool = new HbonePool();
    const stream = await pool.connect(request(h.port));
    stream.end('x');
    stream.resume();
    await until(() => liveWhenReported.length === 1, 'the relayed stream to be reported');
    holdDial = true;
    const connecting = pool.connect(request(h.port));
    await dial.entered;
    h.server.activeStreams[0]!.close('policy_closed', 'denied by policy shop/deny-all');
    await assert.rejects(connecting, { code: 'ERR_HBONE_DENIED' });
    dial.open();
    await until(() => liveWhenReported.length === 2, 'the refused stream to be reported');
    assert.deepEqual(liveWhenReported, [0, 0]);
  });
});

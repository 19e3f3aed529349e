import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { connectionOutcomes, outcomeForStatus, type ConnectionOutcome } from '../src/connection-outcome.ts';
import { hboneCodeForStatus, hboneStatusError } from '../src/hbone-error.ts';
import { HbonePool } from '../src/hbone-pool.ts';
import type { InboundRecord } from '../src/hbone-server.ts';
import { CLIENT_ID, SERVER_ID, clientContext, closeHarness, exchange, startHarness, type Harness } from './hbone-fixtures.ts';

const outcomes = Object.keys(connectionOutcomes) as ConnectionOutcome[];

describe('the connection outcome table', () => {
  it('gives every status one error code, whichever row carries it', () => {
    const codeByStatus = new Map<number, string>();
    for (const o of outcomes) {
      const { status, errorCode } = connectionOutcomes[o];
      if (status === undefined || errorCode === undefined) continue;
      assert.equal(codeByStatus.get(status) ?? errorCode, errorCode, `status ${status} (${o})`);
      codeByStatus.set(status, errorCode);
    }
    assert.deepEqual([...codeByStatus].sort(), [
      [400, 'ERR_HBONE_BAD_REQUEST'],
      [401, 'ERR_HBONE_DENIED'],
      [503, 'ERR_HBONE_UNAVAILABLE'],
    ]);
  });

  it('maps a status back to its outcome, and any other non-200 to bad_status', () => {
    assert.deepEqual([400, 401, 503, 418].map(outcomeForStatus), ['not_connect', 'denied', 'unavailable', 'bad_status']);
    assert.equal(hboneCodeForStatus(418), 'ERR_HBONE_STATUS');
    const err = hboneStatusError(401, '10.0.0.1:80');
    assert.deepEqual([err.code, err.outcome, err.status], ['ERR_HBONE_DENIED', 'denied', 401]);
  });

  it('flags only a policy denial DENY, and nothing that relayed cleanly', () => {
    assert.deepEqual(
      outcomes.filter((o) => connectionOutcomes[o].responseFlags === 'DENY'),
      ['policy_closed', 'denied'],
    );
    assert.equal(connectionOutcomes.ok.responseFlags, '-');
  });

  it('is documented: the README lists every outcome and error code', () => {
    const readme = readFileSync(join(import.meta.dirname, '../README.md'), 'utf8');
    for (const o of outcomes) {
      assert.ok(readme.includes(`\`${o}\``), `README lacks outcome ${o}`);
      const code = connectionOutcomes[o].errorCode;
      if (code !== undefined) assert.ok(readme.includes(code), `README lacks ${code}`);
    }
  });
});

describe('hbone server reporting', () => {
  let h: Harness | undefined;
  let pool: HbonePool | undefined;
  afterEach(async () => {
    pool?.close();
    await closeHarness(h);
  });

  it('reports each stream once with its outcome and logs nothing per connection itself', async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: 'debug' },
      new Writable({
        write(chunk, _enc, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    const records: InboundRecord[] = [];
    let allow = true;
    h = await startHarness({
      logger,
      onStreamClosed: (r) => records.push(r),
      authorize: () => (allow ? { allow: true } : { allow: false, outcome: 'denied', detail: 'denied by policy ns-b/deny-a' }),
    });
    pool = new HbonePool();
    const request = {
      source: { identity: CLIENT_ID, context: clientContext },
      destination: { ip: '10.244.2.7', port: 8080 },
      hboneAddress: { ip: '127.0.0.1', port: h.port },
      expectedIdentities: [SERVER_ID],
    };
    assert.equal(await exchange(await pool.connect(request), 'hi'), 'echo:hi');
    allow = false;
    await assert.rejects(pool.connect(request), { code: 'ERR_HBONE_DENIED' });
    for (let i = 0; i < 100 && records.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(
      records.map((r) => [r.outcome, r.status, r.detail]),
      [
        ['ok', 200, undefined],
        ['denied', 401, 'denied by policy ns-b/deny-a'],
      ],
    );
    assert.deepEqual([records[0]!.sent, records[0]!.received], [2, 7]);
    assert.deepEqual(lines, []);
  });
});

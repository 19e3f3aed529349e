import assert from 'node:assert/strict';
import type pino from 'pino';
import type { Workload } from '@ambient/api';
import { accessLogFields, connectionLabels, reportConnection, type ConnectionReport } from '../../src/proxy/connection-report.ts';
import { createZtunnelMetrics } from '../../src/metrics.ts';
import { capturingLogger, id } from '@ambient/api/testing';

const client = { uid: 'a', name: 'client-1', workloadName: 'client', namespace: 'shop', identity: id('shop', 'client') } as Workload;
const server = { uid: 'b', name: 'server-1', workloadName: 'server', namespace: 'shop', identity: id('shop', 'server') } as Workload;

const outboundOk: ConnectionReport = {
  direction: 'outbound',
  protocol: 'HBONE',
  outcome: 'ok',
  src: { addr: '10.244.1.5:40000', workload: client, identity: client.identity },
  dst: { addr: '10.244.2.2:8080', hboneAddr: '10.244.2.2:15008', workload: server, identity: server.identity },
  sent: 5,
  received: 12,
  durationMs: 3.4,
};

function capture(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const { logger, lines } = capturingLogger();
  return { logger, lines };
}

describe('connection report (the access log line and the metrics)', () => {
  it('writes src/dst with identities, bytes, duration and the outcome from the table', () => {
    assert.deepEqual(accessLogFields(outboundOk), {
      direction: 'outbound',
      protocol: 'HBONE',
      outcome: 'ok',
      response_flags: '-',
      status: 200,
      src: { addr: '10.244.1.5:40000', workload: 'client', namespace: 'shop', identity: id('shop', 'client') },
      dst: { addr: '10.244.2.2:8080', workload: 'server', namespace: 'shop', identity: id('shop', 'server'), hbone_addr: '10.244.2.2:15008' },
      bytes_sent: 5,
      bytes_recv: 12,
      duration_ms: 3,
    });
  });

  it('labels a denial DENY with the status the client got', () => {
    const denied: ConnectionReport = {
      ...outboundOk,
      direction: 'inbound',
      outcome: 'denied',
      detail: 'denied by policy shop/deny-client',
      sent: 0,
      received: 0,
    };
    const fields = accessLogFields(denied);
    assert.deepEqual([fields.outcome, fields.response_flags, fields.status, fields.detail], ['denied', 'DENY', 401, 'denied by policy shop/deny-client']);
    assert.deepEqual([connectionLabels(denied).reporter, connectionLabels(denied).response_flags], ['destination', 'DENY']);
  });

  it('logs exactly one line per connection and counts it once', async () => {
    const { logger, lines } = capture();
    const metrics = createZtunnelMetrics();
    reportConnection({ logger, metrics }, outboundOk);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.msg, 'connection complete');
    const text = await metrics.registry.metrics();
    assert.match(text, /istio_tcp_connections_opened_total\{[^}]*reporter="source"[^}]*response_flags="-"[^}]*connection_security_policy="mutual_tls"\} 1/);
    assert.match(text, /istio_tcp_sent_bytes_total\{[^}]*\} 5/);
    assert.doesNotMatch(text, /ztunnel_connections_refused_total\{/);
  });

  it('counts a connection refused before any destination only as refused, by its outcome', async () => {
    const { logger, lines } = capture();
    const metrics = createZtunnelMetrics();
    reportConnection(
      { logger, metrics },
      {
        ...outboundOk,
        protocol: 'TCP',
        outcome: 'no_route',
        dst: { addr: '10.96.0.10:81' },
        detail: 'service shop/server has no port 81',
        sent: 0,
        received: 0,
      },
    );
    assert.deepEqual([lines.length, lines[0]!.msg, lines[0]!.outcome, lines[0]!.response_flags], [1, 'connection failed', 'no_route', 'CONNECT']);
    const text = await metrics.registry.metrics();
    assert.match(text, /ztunnel_connections_refused_total\{direction="outbound",reason="no_route"\} 1/);
    assert.doesNotMatch(text, /istio_tcp_connections_opened_total\{/);
  });
});

import assert from 'node:assert/strict';
import { Counter, Registry } from 'prom-client';
import { mergedMetrics } from '../src/merged-metrics.ts';

describe('the sidecar metrics page', () => {
  it('carries the families of both registries, a same-named family once (the first registry wins)', async () => {
    const l4 = new Registry();
    const l7 = new Registry();
    new Counter({ name: 'istio_tcp_connections_opened_total', help: 'L4', registers: [l4] }).inc(3);
    new Counter({ name: 'istio_tcp_connections_opened_total', help: 'L7', registers: [l7] }).inc(5);
    new Counter({ name: 'istio_requests_total', help: 'requests', labelNames: ['response_code'], registers: [l7] }).inc({ response_code: '200' }, 7);
    const text = await mergedMetrics(l4, l7).metrics();
    assert.equal(text.match(/^# TYPE istio_tcp_connections_opened_total/gm)?.length, 1);
    assert.match(text, /^istio_tcp_connections_opened_total 3$/m);
    assert.doesNotMatch(text, /^istio_tcp_connections_opened_total 5$/m);
    assert.match(text, /^istio_requests_total\{response_code="200"\} 7$/m);
  });
});

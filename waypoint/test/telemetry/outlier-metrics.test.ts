import assert from 'node:assert/strict';
import { EndpointPicker } from '../../src/balance/endpoint-picker.ts';
import { createWaypointMetrics } from '../../src/telemetry/waypoint-metrics.ts';
import { ep, noContext, virtualTime } from '../balance/balance-fixtures.ts';
import { samples } from './fixtures.ts';

const REVIEWS = 'reviews.shop.svc.cluster.local';

describe('waypoint metrics: load balancing and outlier detection', () => {
  it('counts ejections by reason, returns and panics per destination service', async () => {
    const metrics = createWaypointMetrics();
    metrics.countOutlierEjection(REVIEWS, 'consecutive_5xx');
    metrics.countOutlierEjection(REVIEWS, 'consecutive_5xx');
    metrics.countOutlierEjection(REVIEWS, 'consecutive_gateway_errors');
    metrics.countOutlierReturn(REVIEWS);
    metrics.countLbPanic(REVIEWS);
    const text = await metrics.registry.metrics();
    assert.deepEqual(samples(text, 'waypoint_outlier_ejections_total'), [
      `waypoint_outlier_ejections_total{destination_service="${REVIEWS}",reason="consecutive_5xx"} 2`,
      `waypoint_outlier_ejections_total{destination_service="${REVIEWS}",reason="consecutive_gateway_errors"} 1`,
    ]);
    assert.deepEqual(samples(text, 'waypoint_outlier_returns_total'), [`waypoint_outlier_returns_total{destination_service="${REVIEWS}"} 1`]);
    assert.deepEqual(samples(text, 'waypoint_lb_panic_total'), [`waypoint_lb_panic_total{destination_service="${REVIEWS}"} 1`]);
  });

  it('reads the ejected gauge from the balancer at each scrape, the ports of a service summed', async () => {
    const { fake, clock } = virtualTime();
    const metrics = createWaypointMetrics();
    const picker = new EndpointPicker({ clock });
    metrics.readOutlierEjected(() => picker.ejectedByService());
    const policy = { name: 'shop/reviews', outlierDetection: { consecutive_5xxErrors: 1, maxEjectionPercent: 100 } };
    const eps = [ep('10.0.0.1'), ep('10.0.0.2')];
    for (const backend of [`${REVIEWS}:80`, `${REVIEWS}:9080`]) {
      picker.pick(backend, eps, policy, noContext);
      picker.started(eps[0]!);
      picker.finished(backend, eps[0]!, { latencyMs: 1, status: 503 });
    }
    assert.deepEqual(samples(await metrics.registry.metrics(), 'waypoint_outlier_ejected'), [`waypoint_outlier_ejected{destination_service="${REVIEWS}"} 2`]);
    fake.advance(40_000); // past the 30 s ejection and the sweep after it: no traffic needed
    assert.deepEqual(samples(await metrics.registry.metrics(), 'waypoint_outlier_ejected'), [`waypoint_outlier_ejected{destination_service="${REVIEWS}"} 0`]);
  });

  it('has no ejected series before the balancer is attached', async () => {
    const metrics = createWaypointMetrics();
    const text = await metrics.registry.metrics();
    assert.deepEqual(samples(text, 'waypoint_outlier_ejected'), []);
    assert.match(text, /# TYPE waypoint_outlier_ejected gauge/);
  });
});

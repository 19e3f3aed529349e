import assert from 'node:assert/strict';
import type { Workload } from '@ambient/api';
import { EndpointPicker } from '../../src/balance/endpoint-picker.ts';
import type { Endpoint } from '../../src/config/waypoint-state.ts';

const ep = (ip: string): Endpoint => ({
  ip,
  port: 8080,
  workload: { uid: ip, name: ip, namespace: 'shop', identity: `spiffe://cluster.local/ns/shop/sa/${ip}` } as Workload,
});
const three = [ep('10.0.0.1'), ep('10.0.0.2'), ep('10.0.0.3')];

describe('endpoint picker', () => {
  it('has nothing to pick from an empty set', () => {
    assert.equal(new EndpointPicker().pick('b', []), undefined);
  });

  it('round-robins by default, per backend', () => {
    const p = new EndpointPicker();
    assert.deepEqual(
      [0, 1, 2, 3].map(() => p.pick('a', three)?.ip),
      ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.1'],
    );
    assert.equal(p.pick('b', three)?.ip, '10.0.0.1', 'another backend has its own cursor');
  });

  it('picks at random with RANDOM', () => {
    const p = new EndpointPicker(() => 0.99);
    assert.equal(p.pick('a', three, 'RANDOM')?.ip, '10.0.0.3');
  });

  it('prefers the less loaded of two candidates with LEAST_REQUEST, and forgets finished requests', () => {
    const p = new EndpointPicker(() => 0); // candidates: index 0 and index 1
    p.started(three[0]!);
    assert.equal(p.pick('a', three, 'LEAST_REQUEST')?.ip, '10.0.0.2');
    p.finished(three[0]!);
    assert.equal(p.inFlight(three[0]!), 0);
    assert.equal(p.pick('a', three, 'LEAST_REQUEST')?.ip, '10.0.0.1');
  });
});

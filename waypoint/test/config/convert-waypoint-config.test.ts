import assert from 'node:assert/strict';
import type { TrafficPolicy, WaypointConfig } from '@ambient/api';
import { typeUrls } from '@ambient/api';
import { packAny, unpackAny } from '@ambient/api/grpc';
import { hostname, id } from '@ambient/api/testing';
import { toWaypointConfig } from '../../src/config/convert-waypoint-config.ts';

function config(trafficPolicy: object): WaypointConfig {
  return {
    namespace: 'shop',
    name: 'waypoint',
    identity: id('shop', 'waypoint'),
    waypointFor: 'service',
    services: [{ name: 'reviews', namespace: 'shop', hostname: hostname('reviews'), trafficPolicy: { name: 'shop/reviews', ...trafficPolicy } }],
    authorizations: [],
    extensions: [],
  };
}

/** Through the real protobuf encoding, as the discovery client hands it over. */
const intake = (trafficPolicy: object): TrafficPolicy | undefined =>
  toWaypointConfig('shop/waypoint', unpackAny(packAny(typeUrls.waypointConfig, config(trafficPolicy)))).services?.[0]?.trafficPolicy;

describe('waypoint config intake: load balancing and outlier detection', () => {
  const cases: [string, object, Partial<TrafficPolicy>][] = [
    [
      'keeps an explicit consecutive_5xxErrors 0 and maxEjectionPercent 0, and leaves absent ones out',
      { outlierDetection: { consecutive_5xxErrors: 0, maxEjectionPercent: 0, intervalMs: 1000 } },
      { outlierDetection: { consecutive_5xxErrors: 0, maxEjectionPercent: 0, intervalMs: 1000 } },
    ],
    [
      'reads every outlier field',
      {
        outlierDetection: {
          consecutive_5xxErrors: 3,
          consecutiveGatewayErrors: 2,
          intervalMs: 5000,
          baseEjectionTimeMs: 60_000,
          maxEjectionPercent: 50,
          minHealthPercent: 30,
        },
      },
      {
        outlierDetection: {
          consecutive_5xxErrors: 3,
          consecutiveGatewayErrors: 2,
          intervalMs: 5000,
          baseEjectionTimeMs: 60_000,
          maxEjectionPercent: 50,
          minHealthPercent: 30,
        },
      },
    ],
    ['an empty outlierDetection (every default)', { outlierDetection: {} }, { outlierDetection: {} }],
    [
      'a header key, lower-cased',
      { consistentHash: { httpHeaderName: 'x-user', tableSize: 1024 } },
      { consistentHash: { httpHeaderName: 'x-user', tableSize: 1024 } },
    ],
    [
      'a cookie key with a session ttl (0) and a path',
      { consistentHash: { httpCookie: { name: 'Session', path: '/', ttlMs: 0 } } },
      { consistentHash: { httpCookie: { name: 'Session', path: '/', ttlMs: 0 } } },
    ],
    ['a cookie key that is never generated', { consistentHash: { httpCookie: { name: 'u' } } }, { consistentHash: { httpCookie: { name: 'u' } } }],
    ['the source IP', { consistentHash: { useSourceIp: true, tableSize: 65_537 } }, { consistentHash: { useSourceIp: true, tableSize: 65_537 } }],
    ['a query parameter', { consistentHash: { httpQueryParameterName: 'user' } }, { consistentHash: { httpQueryParameterName: 'user' } }],
  ];
  for (const [what, tp, expected] of cases) {
    it(`reads ${what}`, () => {
      assert.deepEqual(intake(tp), { name: 'shop/reviews', loadBalancer: 'LB_UNSPECIFIED', ...expected });
    });
  }

  const bad: [string, object, RegExp][] = [
    ['a maxEjectionPercent over 100', { outlierDetection: { maxEjectionPercent: 101 } }, /outlierDetection\.maxEjectionPercent 101 is not an integer 0-100/],
    ['a minHealthPercent over 100', { outlierDetection: { minHealthPercent: 200 } }, /outlierDetection\.minHealthPercent 200 is not an integer 0-100/],
    ['a consistent hash without a key', { consistentHash: { tableSize: 1031 } }, /consistentHash must set exactly one of .* got none/],
    [
      "a table over Istio's limit",
      { consistentHash: { useSourceIp: true, tableSize: 6_000_000 } },
      /consistentHash\.tableSize 6000000 is not an integer 0-5000011/,
    ],
    ['a header name with a space', { consistentHash: { httpHeaderName: 'x user' } }, /consistentHash\.httpHeaderName "x user" is not a header name/],
    ['a cookie without a name', { consistentHash: { httpCookie: { path: '/' } } }, /consistentHash\.httpCookie\.name is required/],
    ['a cookie name with a semicolon', { consistentHash: { httpCookie: { name: 'a;b' } } }, /httpCookie\.name "a;b" is not a cookie name/],
    ['a cookie path without a slash', { consistentHash: { httpCookie: { name: 'u', path: 'x' } } }, /httpCookie\.path "x" is not a cookie path/],
  ];
  for (const [what, tp, message] of bad) {
    it(`rejects ${what}, naming the field`, () => {
      assert.throws(() => intake(tp), message);
    });
  }
});

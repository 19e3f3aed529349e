import assert from 'node:assert/strict';
import type { TrafficPolicy } from '@ambient/api';
import { compileDestinationRules } from '../../src/model/destination-rules.ts';
import type { KubeObject } from '../../src/model/inputs.ts';
import { opts } from './fixtures.ts';

const HOST = 'web.shop.svc.cluster.local';

function dr(trafficPolicy: object, name = 'web'): KubeObject {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata: { name, namespace: 'shop' },
    spec: { host: 'web', trafficPolicy },
  };
}

function compile(trafficPolicy: object): { policy: TrafficPolicy | undefined; condition: { status: string; reason: string; message: string } } {
  const { policies, statuses } = compileDestinationRules([dr(trafficPolicy)], opts);
  return { policy: policies.get(HOST), condition: statuses[0]!.conditions[0]! };
}

describe('DestinationRule traffic policy: load balancing and outlier detection', () => {
  const accepted: [string, object, Partial<TrafficPolicy>][] = [
    [
      'keeps an explicit consecutive5xxErrors: 0 (the check off) apart from an absent one',
      { outlierDetection: { consecutive5xxErrors: 0, minHealthPercent: 50 } },
      { outlierDetection: { consecutive_5xxErrors: 0, minHealthPercent: 50 } },
    ],
    [
      'reads every outlier field',
      {
        outlierDetection: {
          consecutive5xxErrors: 3,
          consecutiveGatewayErrors: 2,
          interval: '5s',
          baseEjectionTime: '1m',
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
    [
      'hashes on a header (lower-cased) with the default table size',
      { loadBalancer: { consistentHash: { httpHeaderName: 'X-User' } } },
      { consistentHash: { httpHeaderName: 'x-user', tableSize: 65_537 } },
    ],
    [
      'hashes on a cookie with a ttl of 0 (a session cookie) and a path',
      { loadBalancer: { consistentHash: { httpCookie: { name: 'user', path: '/shop', ttl: '0s' } } } },
      { consistentHash: { httpCookie: { name: 'user', path: '/shop', ttlMs: 0 }, tableSize: 65_537 } },
    ],
    [
      'hashes on a cookie without a ttl (never generated)',
      { loadBalancer: { consistentHash: { httpCookie: { name: 'user' } } } },
      { consistentHash: { httpCookie: { name: 'user' }, tableSize: 65_537 } },
    ],
    [
      'hashes on the source IP with maglev and its default table size',
      { loadBalancer: { consistentHash: { useSourceIp: true, maglev: {} } } },
      { consistentHash: { useSourceIp: true, tableSize: 65_537 } },
    ],
    [
      'takes ringHash.minimumRingSize as a lower bound on the table (never below 65537 slots)',
      { loadBalancer: { consistentHash: { httpQueryParameterName: 'user', ringHash: { minimumRingSize: 4096 } } } },
      { consistentHash: { httpQueryParameterName: 'user', tableSize: 65_537 } },
    ],
    [
      'takes a ringHash.minimumRingSize above the default as the table size',
      { loadBalancer: { consistentHash: { httpQueryParameterName: 'user', ringHash: { minimumRingSize: 100_000 } } } },
      { consistentHash: { httpQueryParameterName: 'user', tableSize: 100_000 } },
    ],
    [
      'reads the deprecated top-level minimumRingSize, capped at the largest table',
      { loadBalancer: { consistentHash: { useSourceIp: true, minimumRingSize: 8_000_000 } } },
      { consistentHash: { useSourceIp: true, tableSize: 5_000_011 } },
    ],
    [
      'takes a prime maglev.tableSize as written',
      { loadBalancer: { consistentHash: { useSourceIp: true, maglev: { tableSize: 251 } } } },
      { consistentHash: { useSourceIp: true, tableSize: 251 } },
    ],
  ];
  for (const [what, spec, expected] of accepted) {
    it(what, () => {
      const { policy, condition } = compile(spec);
      assert.equal(condition.reason, 'Accepted', condition.message);
      assert.deepEqual(policy, { name: 'shop/web', ...expected });
    });
  }

  const invalid: [string, object, RegExp][] = [
    [
      'simple and consistentHash together',
      { loadBalancer: { simple: 'RANDOM', consistentHash: { useSourceIp: true } } },
      /loadBalancer: set simple or consistentHash/,
    ],
    ['a consistentHash without a key', { loadBalancer: { consistentHash: { useSourceIp: false } } }, /consistentHash: set exactly one of .* got none/],
    [
      'a consistentHash with two keys',
      { loadBalancer: { consistentHash: { httpHeaderName: 'x', useSourceIp: true } } },
      /consistentHash: set exactly one of .* got httpHeaderName, useSourceIp/,
    ],
    [
      'a header name with a space',
      { loadBalancer: { consistentHash: { httpHeaderName: 'x user' } } },
      /consistentHash\.httpHeaderName "x user": expected a header name/,
    ],
    [
      'a cookie without a name',
      { loadBalancer: { consistentHash: { httpCookie: { ttl: '1s' } } } },
      /consistentHash\.httpCookie\.name undefined: expected a cookie name/,
    ],
    [
      'a cookie ttl that is not a duration',
      { loadBalancer: { consistentHash: { httpCookie: { name: 'u', ttl: 'soon' } } } },
      /httpCookie\.ttl "soon": expected a duration/,
    ],
    ['a cookie path without a leading slash', { loadBalancer: { consistentHash: { httpCookie: { name: 'u', path: 'shop' } } } }, /httpCookie\.path "shop"/],
    [
      'an empty query parameter name',
      { loadBalancer: { consistentHash: { httpQueryParameterName: '' } } },
      /httpQueryParameterName "": expected a parameter name/,
    ],
    [
      'a maglev table size that is not prime',
      { loadBalancer: { consistentHash: { useSourceIp: true, maglev: { tableSize: 1000 } } } },
      /maglev\.tableSize 1000: expected a prime/,
    ],
    [
      "a maglev table over Istio's limit",
      { loadBalancer: { consistentHash: { useSourceIp: true, maglev: { tableSize: 5_000_101 } } } },
      /maglev\.tableSize 5000101: expected an integer 0-5000011/,
    ],
    [
      'ringHash and maglev together',
      { loadBalancer: { consistentHash: { useSourceIp: true, ringHash: {}, maglev: {} } } },
      /consistentHash: set ringHash or maglev, not both/,
    ],
    ['a maxEjectionPercent over 100', { outlierDetection: { maxEjectionPercent: 101 } }, /outlierDetection\.maxEjectionPercent 101: expected an integer 0-100/],
    ['a minHealthPercent over 100', { outlierDetection: { minHealthPercent: 150 } }, /outlierDetection\.minHealthPercent 150: expected an integer 0-100/],
    ['an interval of 0', { outlierDetection: { interval: '0s' } }, /outlierDetection\.interval "0s": expected at least 1ms/],
    [
      'a negative consecutive5xxErrors',
      { outlierDetection: { consecutive5xxErrors: -1 } },
      /outlierDetection\.consecutive5xxErrors -1: expected a non-negative integer/,
    ],
  ];
  for (const [what, spec, message] of invalid) {
    it(`marks a rule with ${what} Invalid, naming the field, and leaves it out`, () => {
      const { policy, condition } = compile(spec);
      assert.equal(policy, undefined);
      assert.deepEqual([condition.status, condition.reason], ['False', 'Invalid']);
      assert.match(condition.message, message);
    });
  }
});

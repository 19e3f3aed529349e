import assert from 'node:assert/strict';
import type { WaypointConfig } from '@ambient/api';
import { typeUrls } from '@ambient/api';
import { packAny, unpackAny } from '@ambient/api/grpc';
import { gateway, hostname, id, serviceKey, wireService, wireWorkload } from '@ambient/api/testing';
import { toWaypointConfig } from '../../src/config/convert-waypoint-config.ts';
import { WaypointState } from '../../src/config/waypoint-state.ts';

const wp = gateway('waypoint', '10.96.0.9');

function config(overrides: Partial<WaypointConfig> = {}): WaypointConfig {
  return {
    namespace: 'shop',
    name: 'waypoint',
    identity: id('shop', 'waypoint'),
    waypointFor: 'service',
    services: [
      {
        name: 'reviews',
        namespace: 'shop',
        hostname: hostname('reviews'),
        addresses: ['10.96.0.10'],
        ports: [{ servicePort: 80, targetPort: 8080, name: 'http', appProtocol: '' }],
        routes: [
          {
            name: 'shop/reviews',
            kind: 'HTTPRoute',
            port: 0,
            rules: [
              {
                matches: [{ path: { type: 'PATH_PREFIX', value: '/v2' }, headers: [{ name: 'x-user', type: 'VALUE_REGULAR_EXPRESSION', value: '^a.*' }] }],
                backends: [{ hostname: hostname('reviews-v2'), port: 80, weight: 1 }],
                filters: [
                  { requestHeaderModifier: { set: [{ name: 'x-canary', value: 'yes' }], add: [], remove: ['x-debug'] } },
                  { requestMirror: { backend: { hostname: hostname('shadow'), port: 80, weight: 0 }, percent: 50 } },
                ],
                timeouts: { requestMs: 500, backendRequestMs: 200 },
                retry: { attempts: 2, backoffMs: 25, codes: [503] },
              },
            ],
          },
        ],
      },
    ],
    authorizations: [
      {
        name: 'deny-admin',
        namespace: 'shop',
        action: 'DENY',
        targets: ['gateway'],
        rules: [{ clauses: [{ matches: [{ paths: [{ prefix: '/admin' }], headers: [{ name: 'x-role', values: [{ exact: 'guest' }] }] }] }] }],
      },
    ],
    extensions: [],
    ...overrides,
  };
}

/** Through the real protobuf encoding, as the discovery client hands it over. */
const onTheWire = (c: object): unknown => unpackAny(packAny(typeUrls.waypointConfig, c));

describe('waypoint config intake', () => {
  it('reads back everything istiod-lite encodes, through the protobuf wire format', () => {
    const c = toWaypointConfig('shop/waypoint', onTheWire(config()));
    const rule = c.services?.[0]?.routes?.[0]?.rules?.[0];
    assert.deepEqual(rule?.matches?.[0]?.path, { type: 'PATH_PREFIX', value: '/v2' });
    assert.deepEqual(rule?.filters?.[1], { requestMirror: { backend: { hostname: hostname('shadow'), port: 80, weight: 0 }, percent: 50 } });
    assert.deepEqual(rule?.timeouts, { requestMs: 500, backendRequestMs: 200 });
    assert.deepEqual(rule?.retry, { attempts: 2, backoffMs: 25, codes: [503] });
    assert.equal(c.authorizations?.[0]?.action, 'DENY');
    assert.deepEqual(c.authorizations?.[0]?.rules?.[0]?.clauses?.[0]?.matches?.[0]?.paths, [{ prefix: '/admin' }]);
  });

  const bad: [string, (c: WaypointConfig) => void, RegExp][] = [
    [
      'an invalid path regular expression',
      (c) => (c.services![0]!.routes![0]!.rules![0]!.matches![0]!.path = { type: 'REGULAR_EXPRESSION', value: '(' }),
      /path\.value "\(" is not a valid regular expression/,
    ],
    [
      'a redirect status that is not a redirect',
      (c) => (c.services![0]!.routes![0]!.rules![0]!.filters = [{ requestRedirect: { statusCode: 200 } }]),
      /statusCode 200 is not a redirect status/,
    ],
    [
      'a header modifier with a bad header name',
      (c) => (c.services![0]!.routes![0]!.rules![0]!.filters = [{ requestHeaderModifier: { set: [{ name: 'bad name', value: 'x' }] } }]),
      /"bad name" is not a header name/,
    ],
    [
      'a mirror percent over 100',
      (c) => (c.services![0]!.routes![0]!.rules![0]!.filters = [{ requestMirror: { backend: { hostname: 'x' }, percent: 101 } }]),
      /percent 101 is not an integer 0-100/,
    ],
    ['a retry code outside 4xx/5xx', (c) => (c.services![0]!.routes![0]!.rules![0]!.retry = { codes: [200] }), /codes\[0\] 200 is not a status 400-599/],
    ['an identity that is not a spiffe id', (c) => (c.identity = 'waypoint'), /identity "waypoint" is not a spiffe id/],
  ];
  for (const [what, mutate, message] of bad) {
    it(`rejects ${what}, naming the field`, () => {
      const c = config();
      mutate(c);
      assert.throws(() => toWaypointConfig('shop/waypoint', onTheWire(c)), message);
    });
  }

  it('rejects a config whose name is not its resource name', () => {
    assert.throws(() => toWaypointConfig('shop/other', onTheWire(config())), /does not match the resource name/);
  });

  it('keeps the last good config when an update is invalid', () => {
    const state = new WaypointState();
    state.apply(typeUrls.waypointConfig, { upserts: new Map([['shop/waypoint', onTheWire(config())]]), removals: [] });
    const broken = config();
    broken.services![0]!.routes![0]!.rules![0]!.matches![0]!.path = { type: 'REGULAR_EXPRESSION', value: '[' };
    const result = state.apply(typeUrls.waypointConfig, { upserts: new Map([['shop/waypoint', onTheWire(broken)]]), removals: [] });
    assert.equal(result.rejected.length, 1);
    assert.match(result.rejected[0]!.error.message, /invalid .*"shop\/waypoint"/);
    assert.equal(state.config?.services?.[0]?.routes?.[0]?.rules?.[0]?.matches?.[0]?.path?.value, '/v2');
  });
});

describe('waypoint state lookups', () => {
  function loaded(waypointFor: WaypointConfig['waypointFor'] = 'service'): WaypointState {
    const state = new WaypointState();
    const addresses = [
      wireWorkload({ uid: 'r1', ip: '10.244.1.5', sa: 'reviews' }),
      wireWorkload({ uid: 'r2', ip: '10.244.2.5', sa: 'reviews', status: 'UNHEALTHY' }),
      wireWorkload({ uid: 'r3', ip: '10.244.2.6', sa: 'reviews', hbone: false }),
      wireWorkload({ uid: 'r4', ip: '10.244.2.7', sa: 'reviews' }),
      wireWorkload({ uid: 'p1', ip: '10.244.1.9', sa: 'ratings', waypoint: wp }),
      wireWorkload({ uid: 'other', ip: '10.244.1.10', sa: 'other' }),
      wireService({
        name: 'reviews',
        vip: '10.96.0.10',
        ports: [[80, 8080]],
        waypoint: wp,
        endpoints: [{ uid: 'r1' }, { uid: 'r2' }, { uid: 'r3' }, { uid: 'r4', ready: false }],
      }),
      wireService({ name: 'unbound', vip: '10.96.0.11', ports: [[80, 8080]] }),
    ];
    const upserts = new Map<string, unknown>(
      addresses.map((a) => ('workload' in a ? [a.workload.uid as string, a] : [serviceKey(a.service.name as string), a])),
    );
    assert.deepEqual(state.apply(typeUrls.address, { upserts, removals: [] }).rejected, []);
    const c = config({
      waypointFor,
      address: { address: '10.96.0.9', hostname: serviceKey('waypoint'), hboneMtlsPort: 15008, identity: id('shop', 'waypoint') },
    });
    assert.deepEqual(state.apply(typeUrls.waypointConfig, { upserts: new Map([['shop/waypoint', onTheWire(c)]]), removals: [] }).rejected, []);
    return state;
  }

  it('serves a bound service VIP on a port it exposes, and nothing else', () => {
    const state = loaded();
    assert.equal(state.served('10.96.0.10', 80)?.kind, 'service');
    assert.equal(state.served('10.96.0.10', 81), undefined);
    assert.equal(state.served('10.96.0.11', 80), undefined, 'a service not bound to this waypoint');
  });

  it('serves workload addresses only when the waypoint is for workloads, and only workloads bound to it', () => {
    assert.equal(loaded('service').served('10.244.1.9', 8080), undefined);
    assert.equal(loaded('all').served('10.244.1.9', 8080)?.kind, 'workload');
    assert.equal(loaded('workload').served('10.244.1.10', 8080), undefined, 'a workload without this waypoint');
  });

  it('lists only ready, healthy, HBONE endpoints with their target ports', () => {
    const eps = loaded().endpoints(hostname('reviews'), 80);
    assert.deepEqual(
      eps.map((e) => [e.workload.uid, e.ip, e.port]),
      [['r1', '10.244.1.5', 8080]],
    );
    assert.deepEqual(loaded().endpoints(hostname('reviews'), 81), []);
    assert.deepEqual(loaded().endpoints(hostname('nope'), 80), []);
  });
});

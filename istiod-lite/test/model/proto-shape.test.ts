import assert from 'node:assert/strict';
import path from 'node:path';
import protobuf from 'protobufjs';
import { typeUrls } from '@ambient/api';
import { buildMeshModel, resourcesForProxy } from '../../src/model/mesh-model.ts';

const { address: addressTypeUrl, authorization: authorizationTypeUrl, waypointConfig: waypointConfigTypeUrl } = typeUrls;
import { authorizationPolicy, httpRoute, inputs, namespace, opts, peerAuthentication, pod, service, waypoint } from './fixtures.ts';

// The discovery server sends the model's objects through protobufjs: every field must exist in
// the .proto files under the same name, or it would be silently dropped on the wire.
const protoDir = path.join(import.meta.dirname, '../../../api/proto');

function loadRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(protoDir, target));
  root.loadSync(['ambient/workload/v1/workload.proto', 'ambient/waypoint/v1/waypoint.proto']);
  return root;
}

describe('model: payloads match the protos', () => {
  const root = loadRoot();
  const model = buildMeshModel(
    inputs(
      namespace('shop', { 'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'wp' }),
      waypoint('wp', { waypointFor: 'all' }),
      pod('web', { uid: 'web', labels: { app: 'web' }, ports: [{ name: 'http', containerPort: 8080 }], owner: { kind: 'Deployment', name: 'web' } }),
      service('web', { ports: [{ name: 'http', port: 80, targetPort: 'http', appProtocol: 'http' }] }),
      authorizationPolicy('l4', {
        selector: { matchLabels: { app: 'web' } },
        rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/8'], principals: ['*'] } }], to: [{ operation: { ports: ['80'] } }] }],
      }),
      authorizationPolicy('l7', {
        targetRefs: [{ kind: 'Service', group: '', name: 'web' }],
        rules: [{ to: [{ operation: { methods: ['GET'] } }], when: [{ key: 'request.headers[x-a]', notValues: ['b'] }] }],
      }),
      peerAuthentication('strict', { mtls: { mode: 'STRICT' } }),
      httpRoute('r', {
        parentRefs: [{ group: '', kind: 'Service', name: 'web' }],
        rules: [
          {
            matches: [{ path: { type: 'Exact', value: '/x' } }],
            backendRefs: [{ name: 'web', port: 80 }],
            filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', statusCode: 308 } }],
            timeouts: { request: '1s' },
            retry: { attempts: 2 },
          },
          {
            matches: [{ path: { type: 'PathPrefix', value: '/m' } }],
            backendRefs: [{ name: 'web', port: 80 }],
            filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'web', port: 80 }, percent: 10 } }],
          },
        ],
      }),
      {
        apiVersion: 'networking.istio.io/v1',
        kind: 'DestinationRule',
        metadata: { name: 'web', namespace: 'shop' },
        spec: { host: 'web', trafficPolicy: { outlierDetection: { consecutive5xxErrors: 1 } } },
      },
      { apiVersion: 'ambient.io/v1alpha1', kind: 'RateLimitPolicy', metadata: { name: 'rl', namespace: 'shop' }, spec: { limit: 5 } },
      {
        apiVersion: 'mesh.ambient.dev/v1alpha1',
        kind: 'BackendTrafficPolicy',
        metadata: { name: 'budget', namespace: 'shop' },
        spec: { targetRefs: [{ group: '', kind: 'Service', name: 'web' }], retryConstraint: {} },
      },
    ),
    opts,
  );

  const cases: [string, string][] = [
    [addressTypeUrl, 'ambient.workload.v1.Address'],
    [authorizationTypeUrl, 'ambient.workload.v1.Authorization'],
    [waypointConfigTypeUrl, 'ambient.waypoint.v1.WaypointConfig'],
  ];
  for (const [typeUrl, message] of cases) {
    it(`round-trips every ${message} unchanged`, () => {
      const type = root.lookupType(message);
      const resources = resourcesForProxy(model, { type: 'test', namespace: '', name: '' }, typeUrl);
      assert.ok(resources.size > 0);
      for (const [name, payload] of resources) {
        const back = type.toObject(type.decode(type.encode(type.fromObject(payload)).finish()), { enums: String, longs: Number, defaults: false });
        assert.deepEqual(back, stripDefaults(payload), name);
      }
    });
  }
});

describe('model: payloads match the protos (RequestMirror)', () => {
  it('keeps a mirror filter and its percent on the wire', () => {
    const root = loadRoot();
    const model = buildMeshModel(
      inputs(
        namespace('shop', { 'istio.io/use-waypoint': 'wp' }),
        waypoint('wp'),
        service('web'),
        httpRoute('r', {
          parentRefs: [{ group: '', kind: 'Service', name: 'web' }],
          rules: [{ filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'web', port: 80 }, percent: 10 } }] }],
        }),
      ),
      opts,
    );
    const type = root.lookupType('ambient.waypoint.v1.WaypointConfig');
    const payload = resourcesForProxy(model, { type: 'test', namespace: '', name: '' }, waypointConfigTypeUrl).get('shop/wp')!;
    const back = type.toObject(type.decode(type.encode(type.fromObject(payload)).finish()), { enums: String, longs: Number, defaults: false });
    assert.deepEqual(back.services[0].routes[0].rules[0].filters, [
      { requestMirror: { backend: { hostname: 'web.shop.svc.cluster.local', port: 80 }, percent: 10 } },
    ]);
  });
});

/** What survives the wire: protobufjs encodes every set scalar (zeros too), but empty lists/maps vanish. */
function stripDefaults(v: any): any {
  if (Array.isArray(v)) return v.map(stripDefaults);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (x === undefined || (Array.isArray(x) && x.length === 0)) continue;
    if (typeof x === 'object' && x !== null && !Array.isArray(x) && Object.keys(x).length === 0) continue;
    out[k] = stripDefaults(x);
  }
  return out;
}

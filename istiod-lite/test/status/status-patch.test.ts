import assert from 'node:assert/strict';
import type { ObjectStatus } from '../../src/model/object-status.ts';
import { kubeTime, mergeConditions, statusPatch } from '../../src/status/status-patch.ts';

const T0 = '2025-01-01T00:00:00Z';
const T1 = '2025-01-02T00:00:00Z';
const ap = (conditions: ObjectStatus['conditions']): ObjectStatus => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  namespace: 'shop',
  name: 'p',
  conditions,
});
const accepted = { type: 'ZtunnelAccepted', status: 'True' as const, reason: 'Accepted', message: 'ok' };

describe('statusPatch', () => {
  const cases: { name: string; current: unknown; desired: ObjectStatus; want: unknown }[] = [
    { name: 'stamps a new condition with now', current: undefined, desired: ap([accepted]), want: { conditions: [{ ...accepted, lastTransitionTime: T1 }] } },
    {
      name: 'writes nothing when the object already shows it',
      current: { conditions: [{ ...accepted, lastTransitionTime: T0 }] },
      desired: ap([accepted]),
      want: undefined,
    },
    {
      name: 'keeps lastTransitionTime when only the message changes',
      current: { conditions: [{ ...accepted, lastTransitionTime: T0 }] },
      desired: ap([{ ...accepted, message: 'new' }]),
      want: { conditions: [{ ...accepted, message: 'new', lastTransitionTime: T0 }] },
    },
    {
      name: 'moves lastTransitionTime when the status flips',
      current: { conditions: [{ ...accepted, lastTransitionTime: T0 }] },
      desired: ap([{ ...accepted, status: 'False', reason: 'UnsupportedValue' }]),
      want: { conditions: [{ ...accepted, status: 'False', reason: 'UnsupportedValue', lastTransitionTime: T1 }] },
    },
    {
      name: "keeps other controllers' condition types and drops its own stale ones",
      current: {
        conditions: [
          { type: 'WaypointAccepted', status: 'True', reason: 'x', message: '', lastTransitionTime: T0 },
          { type: 'example.com/Audited', status: 'True', reason: 'y', message: '', lastTransitionTime: T0 },
        ],
      },
      desired: ap([accepted]),
      want: {
        conditions: [
          { ...accepted, lastTransitionTime: T1 },
          { type: 'example.com/Audited', status: 'True', reason: 'y', message: '', lastTransitionTime: T0 },
        ],
      },
    },
    { name: 'writes nothing for an object without desired or own conditions', current: {}, desired: ap([]), want: undefined },
  ];
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(statusPatch(c.current, c.desired, T1), c.want));
  }

  it('writes Gateway addresses and listeners, keeping listener transition times', () => {
    const programmed = { type: 'Programmed', status: 'True' as const, reason: 'Programmed', message: '' };
    const gw: ObjectStatus = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      namespace: 'shop',
      name: 'waypoint',
      conditions: [programmed],
      gateway: {
        addresses: [{ type: 'IPAddress', value: '10.96.0.10' }],
        listeners: [{ name: 'mesh', attachedRoutes: 0, conditions: [programmed], supportedKinds: [] }],
      },
    };
    const first = statusPatch(undefined, gw, T0)!;
    assert.deepEqual(first.addresses, [{ type: 'IPAddress', value: '10.96.0.10' }]);
    assert.equal(first.listeners[0].conditions[0].lastTransitionTime, T0);
    assert.equal(statusPatch(first, gw, T1), undefined, 'applying the same desired status again is a no-op');
  });

  it("replaces its own route parent entries and keeps other controllers'", () => {
    const other = { parentRef: { name: 'gw' }, controllerName: 'example.com/other', conditions: [] };
    const route: ObjectStatus = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      namespace: 'shop',
      name: 'r',
      conditions: [],
      parents: [
        {
          parentRef: { name: 'waypoint', kind: 'Gateway', group: 'gateway.networking.k8s.io' },
          controllerName: 'istio.io/gateway-controller',
          conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: '' }],
        },
      ],
    };
    const patch = statusPatch({ parents: [other] }, route, T1)!;
    assert.equal(patch.conditions, undefined, 'routes carry no top-level conditions');
    assert.deepEqual(
      patch.parents.map((p: { controllerName: string }) => p.controllerName),
      ['istio.io/gateway-controller', 'example.com/other'],
    );
    assert.equal(statusPatch({ parents: patch.parents }, route, '2030-01-01T00:00:00Z'), undefined);
  });

  it('mergeConditions ignores garbage in the current status', () => {
    assert.deepEqual(mergeConditions('nope', [accepted], T1), [{ ...accepted, lastTransitionTime: T1 }]);
    assert.deepEqual(mergeConditions([null, 3], [accepted], T1), [{ ...accepted, lastTransitionTime: T1 }]);
  });

  it('kubeTime has second precision like metav1.Time', () => {
    assert.equal(kubeTime(Date.UTC(2025, 0, 1, 0, 0, 0, 123)), T0);
  });
});

// Gateway (waypoint) status in Gateway API shape: Accepted, Programmed once its Service has an
// address, and per-listener conditions, so `kubectl get gateway` shows PROGRAMMED.
import { ports } from '@ambient/api';
import { condition, type Condition } from './conditions.ts';
import { generationOf } from './kube-object.ts';
import type { ObjectStatus } from './object-status.ts';
import type { Waypoint } from './waypoints.ts';
import type { Manifest } from './inputs.ts';

export function gatewayStatus(wp: Waypoint, attachedRoutes: number): ObjectStatus {
  const gen = generationOf(wp.gateway);
  const accepted = wp.problem === undefined;
  const programmed = accepted && wp.address !== undefined;
  const acceptedReason = wp.problem?.includes('listener') ? 'ListenersNotValid' : 'InvalidParameters';
  const programmedCondition = !accepted
    ? condition('Programmed', false, 'Invalid', `gateway is not accepted: ${wp.problem}`, gen)
    : programmed
      ? condition('Programmed', true, 'Programmed', `waypoint is reachable at ${wp.address!.address}`, gen)
      : condition('Programmed', false, 'Pending', `waiting for Service ${wp.namespace}/${wp.name} to get a ClusterIP`, gen);
  const listeners: Manifest[] = Array.isArray(wp.gateway.spec?.listeners) ? wp.gateway.spec.listeners : [];
  return {
    apiVersion: wp.gateway.apiVersion ?? 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    namespace: wp.namespace,
    name: wp.name,
    conditions: [
      accepted ? condition('Accepted', true, 'Accepted', 'resource accepted', gen) : condition('Accepted', false, acceptedReason, wp.problem!, gen),
      programmedCondition,
    ],
    gateway: {
      addresses: programmed ? [{ type: 'IPAddress', value: wp.address!.address }] : [],
      listeners: listeners.map((l) => {
        const ok = l?.protocol === 'HBONE' && l?.port === ports.hbone;
        const conditions: Condition[] = ok
          ? [
              condition('Accepted', true, 'Accepted', 'listener accepted', gen),
              condition('ResolvedRefs', true, 'ResolvedRefs', 'no references to resolve', gen),
              { ...programmedCondition, type: 'Programmed' },
            ]
          : [
              condition(
                'Accepted',
                false,
                'UnsupportedProtocol',
                `listener ${l?.name} must be protocol HBONE on port ${ports.hbone}, got ${l?.protocol} on ${l?.port}`,
                gen,
              ),
              condition('ResolvedRefs', true, 'ResolvedRefs', 'no references to resolve', gen),
              condition('Programmed', false, 'Invalid', 'listener is not accepted', gen),
            ];
        return { name: String(l?.name ?? ''), attachedRoutes: ok ? attachedRoutes : 0, conditions, supportedKinds: [] };
      }),
    },
  };
}

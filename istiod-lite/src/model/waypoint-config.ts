// Everything a waypoint needs, per waypoint Gateway: the services bound to it with their routes
// and traffic policies, the L7 policies attached to it, pass-through extensions; plus the
// Gateway, route, DestinationRule and targetRef-policy statuses.
//
// An injected sidecar runs the same L7 stack for its own pod's outbound calls, so it gets the
// same kind of config (sidecarView): every service that no waypoint fronts, built by the same
// serviceConfig() — a service with a waypoint is reached through it, which applies its policy.
import type { Extension, Service, ServiceConfig, WaypointConfig } from '@ambient/api';
import { compileDestinationRules } from './destination-rules.ts';
import { gatewayStatus } from './gateway-status.ts';
import type { MeshInputs, MeshOptions } from './inputs.ts';
import { extensionsIn } from './extensions.ts';
import { namespaceOf } from './kube-object.ts';
import { compileL7Policies } from './l7-authorization.ts';
import type { ObjectStatus } from './object-status.ts';
import { compileRoutes } from './routes.ts';
import { type Waypoint, type WaypointBinding, waypointUnavailable } from './waypoints.ts';

export interface WaypointConfigContext {
  waypoints: Map<string, Waypoint>;
  services: Map<string, Service>;
  bindings: Map<string, WaypointBinding>;
}

/** What every sidecar's WaypointConfig shares (only its namespace, name and identity are its own). */
export interface SidecarView {
  /** Every service no waypoint fronts (nor is meant to), by hostname. */
  services: ServiceConfig[];
  /** The project's policies of every namespace. */
  extensions: Extension[];
}

export function buildWaypointConfigs(
  inputs: MeshInputs,
  opts: MeshOptions,
  ctx: WaypointConfigContext,
): { configs: Map<string, WaypointConfig>; sidecarView: SidecarView; statuses: ObjectStatus[] } {
  const routes = compileRoutes(inputs.httpRoutes, inputs.grpcRoutes, {
    opts,
    services: ctx.services,
    bindings: ctx.bindings,
    waypoints: ctx.waypoints,
  });
  const drs = compileDestinationRules(inputs.destinationRules, opts);
  const l7 = compileL7Policies(inputs.authorizationPolicies, { opts, waypoints: ctx.waypoints, bindings: ctx.bindings });
  const statuses: ObjectStatus[] = [...routes.statuses, ...drs.statuses, ...l7.statuses];

  /** A service as a proxy running the L7 stack for it sees it: its routes and traffic policy. */
  const serviceConfig = (key: string, svc: Service): ServiceConfig => {
    const sc: ServiceConfig = {
      name: svc.name,
      namespace: svc.namespace,
      hostname: svc.hostname,
      addresses: svc.addresses ?? [],
      ports: svc.ports ?? [],
      routes: routes.byService.get(key) ?? [],
    };
    const tp = drs.policies.get(svc.hostname);
    if (tp) sc.trafficPolicy = tp;
    return sc;
  };

  const boundServices = new Map<string, ServiceConfig[]>();
  const unbound: ServiceConfig[] = [];
  const waypointServices = new Set([...ctx.waypoints.values()].map((wp) => `${wp.namespace}/${wp.name}.${wp.namespace}.svc.${opts.clusterDomain}`));
  for (const [key, binding] of ctx.bindings) {
    const svc = ctx.services.get(key)!;
    if (!binding.waypoint) {
      // Left to the sidecars: services without a waypoint, except those meant for one that is
      // unavailable (their traffic is refused, never served around the waypoint) and the
      // waypoints' own Services (HBONE to a waypoint is not application traffic).
      if (waypointUnavailable(binding) === undefined && !waypointServices.has(key)) unbound.push(serviceConfig(key, svc));
      continue;
    }
    const wpKey = `${binding.waypoint.namespace}/${binding.waypoint.name}`;
    boundServices.set(wpKey, [...(boundServices.get(wpKey) ?? []), serviceConfig(key, svc)]);
  }

  const configs = new Map<string, WaypointConfig>();
  for (const [key, wp] of ctx.waypoints) {
    statuses.push(gatewayStatus(wp, routes.attachedRoutes.get(key) ?? 0));
    if (wp.problem !== undefined) continue;
    const services = (boundServices.get(key) ?? []).sort((a, b) => a.hostname.localeCompare(b.hostname));
    const config: WaypointConfig = {
      namespace: wp.namespace,
      name: wp.name,
      identity: wp.identity,
      waypointFor: wp.waypointFor,
      services,
      authorizations: l7.byWaypoint.get(key) ?? [],
      extensions: extensionsIn(inputs.extensions, new Set([wp.namespace, ...services.map((s) => s.namespace)])),
    };
    if (wp.address) config.address = wp.address;
    configs.set(key, config);
  }
  const sidecarView: SidecarView = {
    services: unbound.sort((a, b) => a.hostname.localeCompare(b.hostname)),
    extensions: extensionsIn(inputs.extensions, new Set(inputs.extensions.map(namespaceOf))),
  };
  return { configs, sidecarView, statuses };
}

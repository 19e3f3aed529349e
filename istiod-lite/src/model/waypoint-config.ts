// Everything a waypoint needs, per waypoint Gateway: the services bound to it with their routes
// and traffic policies, the L7 policies attached to it, pass-through extensions; plus the
// Gateway, route, DestinationRule and targetRef-policy statuses.
import type { Service, ServiceConfig, WaypointConfig } from '@ambient/api';
import { compileDestinationRules } from './destination-rules.ts';
import { gatewayStatus } from './gateway-status.ts';
import type { MeshInputs, MeshOptions } from './inputs.ts';
import { extensionsIn } from './extensions.ts';
import { compileL7Policies } from './l7-authorization.ts';
import type { ObjectStatus } from './object-status.ts';
import { compileRoutes } from './routes.ts';
import type { Waypoint, WaypointBinding } from './waypoints.ts';

export interface WaypointConfigContext {
  waypoints: Map<string, Waypoint>;
  services: Map<string, Service>;
  bindings: Map<string, WaypointBinding>;
}

export function buildWaypointConfigs(
  inputs: MeshInputs,
  opts: MeshOptions,
  ctx: WaypointConfigContext,
): { configs: Map<string, WaypointConfig>; statuses: ObjectStatus[] } {
  const routes = compileRoutes(inputs.httpRoutes, inputs.grpcRoutes, {
    opts,
    services: ctx.services,
    bindings: ctx.bindings,
    waypoints: ctx.waypoints,
  });
  const drs = compileDestinationRules(inputs.destinationRules, opts);
  const l7 = compileL7Policies(inputs.authorizationPolicies, { opts, waypoints: ctx.waypoints, bindings: ctx.bindings });
  const statuses: ObjectStatus[] = [...routes.statuses, ...drs.statuses, ...l7.statuses];

  const boundServices = new Map<string, ServiceConfig[]>();
  for (const [key, binding] of ctx.bindings) {
    if (!binding.waypoint) continue;
    const svc = ctx.services.get(key)!;
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
    const wpKey = `${binding.waypoint.namespace}/${binding.waypoint.name}`;
    boundServices.set(wpKey, [...(boundServices.get(wpKey) ?? []), sc]);
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
  return { configs, statuses };
}

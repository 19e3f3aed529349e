// What the waypoint knows: its own WaypointConfig (routes, traffic policies, L7 policies,
// extensions) and the addresses of its namespace and of the services bound to it (the same
// ProxyState ztunnel keeps). Lookups answer the two questions the data path asks: "what does
// this CONNECT target serve?" and "which endpoints can a backend hostname:port go to?".
import type { Port, Service, ServiceConfig, WaypointConfig, Workload } from '@ambient/api';
import { typeUrls } from '@ambient/api';
import { InvalidResourceError, ProxyState, type ApplyResult, type ResourceBatch } from '@ambient/api/proxy-runtime';
import { toWaypointConfig } from './convert-waypoint-config.ts';

/** A CONNECT target the waypoint serves: a bound service's VIP:port, or a bound workload's ip:port. */
export type ServedTarget = { kind: 'service'; service: Service; config: ServiceConfig; port: Port } | { kind: 'workload'; workload: Workload; port: number };

/** One endpoint a request can be sent to: a pod, reached through its node's ztunnel over HBONE. */
export interface Endpoint {
  workload: Workload;
  ip: string;
  /** The pod port (the service port's target port for this workload). */
  port: number;
}

export class WaypointState {
  readonly addresses = new ProxyState();
  #config: WaypointConfig | undefined;
  #servicesByHostname = new Map<string, ServiceConfig>();

  get config(): WaypointConfig | undefined {
    return this.#config;
  }

  /** Throws InvalidResourceError for the discovery NACK. */
  validate(typeUrl: string, name: string, payload: unknown): void {
    if (typeUrl === typeUrls.waypointConfig) this.#convert(name, payload);
    else this.addresses.validate(typeUrl, name, payload);
  }

  apply(typeUrl: string, batch: ResourceBatch): ApplyResult {
    if (typeUrl !== typeUrls.waypointConfig) return this.addresses.apply(typeUrl, batch);
    const result: ApplyResult = { applied: [], removed: [], rejected: [] };
    for (const name of batch.removals) {
      if (this.#config && `${this.#config.namespace}/${this.#config.name}` === name) {
        this.#setConfig(undefined);
        result.removed.push(name);
      }
    }
    for (const [name, payload] of batch.upserts) {
      try {
        this.#setConfig(this.#convert(name, payload));
        result.applied.push(name);
      } catch (err) {
        result.rejected.push({ name, error: err as InvalidResourceError });
      }
    }
    return result;
  }

  /**
   * What a CONNECT to `ip:port` is for. A service VIP must be bound to this waypoint and expose
   * the port; a workload address counts only when the waypoint serves workloads.
   */
  served(ip: string, port: number): ServedTarget | undefined {
    const service = this.addresses.serviceByVip(ip, port);
    if (service !== undefined) {
      const config = this.#servicesByHostname.get(service.hostname);
      const p = service.ports?.find((x) => x.servicePort === port);
      return config && p ? { kind: 'service', service, config, port: p } : undefined;
    }
    const workload = this.addresses.workloadByIp(ip);
    const wpFor = this.#config?.waypointFor ?? 'service';
    if (workload === undefined || (wpFor !== 'workload' && wpFor !== 'all')) return undefined;
    // Only workloads that name this waypoint: an address in the namespace is not a binding.
    const self = this.#config?.address?.address;
    if (workload.waypoint === undefined || (self !== undefined && workload.waypoint.address !== self)) return undefined;
    return { kind: 'workload', workload, port };
  }

  /** The bound service config of a hostname ("<name>.<ns>.svc.<domain>"). */
  serviceConfig(hostname: string): ServiceConfig | undefined {
    return this.#servicesByHostname.get(hostname);
  }

  /**
   * Ready, HBONE-capable endpoints of a service port. Plaintext endpoints are left out: the
   * waypoint never sends a request without mTLS.
   */
  endpoints(hostname: string, servicePort: number): Endpoint[] {
    const service = this.addresses.serviceByHostname(hostname);
    if (service === undefined) return [];
    const port = service.ports?.find((p) => p.servicePort === servicePort);
    if (port === undefined) return [];
    const out: Endpoint[] = [];
    for (const e of service.endpoints ?? []) {
      if (e.ready === false) continue;
      const workload = this.addresses.workloadByUid(e.workloadUid);
      if (workload === undefined || workload.tunnelProtocol !== 'HBONE' || workload.status === 'UNHEALTHY') continue;
      const ip = e.address ?? workload.addresses?.[0];
      if (ip === undefined) continue;
      out.push({ workload, ip, port: e.ports?.[String(servicePort)] ?? port.targetPort ?? servicePort });
    }
    return out;
  }

  dump(): object {
    return { config: this.#config ?? null, ...this.addresses.dump() };
  }

  #convert(name: string, payload: unknown): WaypointConfig {
    try {
      return toWaypointConfig(name, payload);
    } catch (err) {
      throw new InvalidResourceError(typeUrls.waypointConfig, name, (err as Error).message, { cause: err });
    }
  }

  #setConfig(config: WaypointConfig | undefined): void {
    this.#config = config;
    this.#servicesByHostname = new Map((config?.services ?? []).map((s) => [s.hostname, s]));
  }
}

// ProxyState: the workloads, services and L4 authorizations this ztunnel knows, fed by discovery
// and read by every connection. apply() converts a whole batch before touching anything (a
// malformed resource rejects only itself and is reported), then applies the rest synchronously,
// so no reader ever observes half a batch.
import type { Address, Authorization, Service, Workload } from '../../index.ts';
import { typeUrls } from '../../index.ts';
import { convertResource } from './convert-resource.ts';
import { normalizeIp } from './ip-address.ts';
import type { InvalidResourceError } from './invalid-resource-error.ts';

export interface ResourceBatch {
  upserts: ReadonlyMap<string, unknown>;
  removals: readonly string[];
}

export interface ApplyResult {
  /** Names added or replaced. */
  applied: string[];
  /** Names removed that were held. */
  removed: string[];
  /** Resources left out of the batch, each with why; the previous version (if any) stays. */
  rejected: { name: string; error: InvalidResourceError }[];
}

export interface StateDump {
  workloads: Workload[];
  services: Service[];
  policies: Authorization[];
}

export class ProxyState {
  readonly #workloads = new Map<string, Workload>(); // by uid
  readonly #services = new Map<string, Service>(); // by "<namespace>/<hostname>"
  readonly #policies = new Map<string, Authorization>(); // by "<namespace>/<name>"
  // IP → uids holding it, most recently written last: during a pod restart two pods can briefly
  // claim one IP, and the newest one is the one traffic is for.
  readonly #workloadsByIp = new Map<string, Set<string>>();
  readonly #servicesByVip = new Map<string, Set<string>>();
  readonly #servicesByHostname = new Map<string, Set<string>>();
  readonly #workloadsByNode = new Map<string, Set<string>>();
  readonly #globalPolicies = new Set<string>();
  readonly #namespacePolicies = new Map<string, Set<string>>();

  /** Throws InvalidResourceError when the resource cannot be used (for the discovery NACK). */
  validate(typeUrl: string, name: string, payload: unknown): void {
    convertResource(typeUrl, name, payload);
  }

  apply(typeUrl: string, batch: ResourceBatch): ApplyResult {
    const result: ApplyResult = { applied: [], removed: [], rejected: [] };
    const converted: [string, Address | Authorization][] = [];
    for (const [name, payload] of batch.upserts) {
      try {
        converted.push([name, convertResource(typeUrl, name, payload).value]);
      } catch (err) {
        result.rejected.push({ name, error: err as InvalidResourceError });
      }
    }
    // Unknown type: every upsert was rejected above; removals of it have nothing to remove.
    if (typeUrl !== typeUrls.address && typeUrl !== typeUrls.authorization) return result;
    for (const name of batch.removals) {
      const held = typeUrl === typeUrls.address ? this.#removeAddress(name) : this.#removePolicy(name);
      if (held) result.removed.push(name);
    }
    for (const [name, value] of converted) {
      if (typeUrl === typeUrls.address) this.#putAddress(name, value as Address);
      else this.#putPolicy(name, value as Authorization);
      result.applied.push(name);
    }
    return result;
  }

  workloadByUid(uid: string): Workload | undefined {
    return this.#workloads.get(uid);
  }

  workloadByIp(ip: string): Workload | undefined {
    const key = normalizeIp(ip);
    const uids = key === undefined ? undefined : this.#workloadsByIp.get(key);
    return uids === undefined ? undefined : this.#workloads.get(last(uids)!);
  }

  /** The service with this VIP; with a port, only if the service exposes that port. */
  serviceByVip(ip: string, port?: number): Service | undefined {
    const vip = normalizeIp(ip);
    const keys = vip === undefined ? undefined : this.#servicesByVip.get(vip);
    if (keys === undefined) return undefined;
    const service = this.#services.get(last(keys)!);
    if (service === undefined || port === undefined) return service;
    return service.ports?.some((p) => p.servicePort === port) ? service : undefined;
  }

  /** By "<namespace>/<hostname>" (the resource name), or by the bare hostname. */
  serviceByHostname(hostname: string): Service | undefined {
    const byKey = this.#services.get(hostname);
    if (byKey !== undefined) return byKey;
    const keys = this.#servicesByHostname.get(hostname);
    return keys === undefined ? undefined : this.#services.get(last(keys)!);
  }

  workloadsOnNode(node: string): Workload[] {
    return [...(this.#workloadsByNode.get(node) ?? [])].map((uid) => this.#workloads.get(uid)!);
  }

  /**
   * The policies that apply to a workload: GLOBAL ones, its namespace's NAMESPACE ones, and the
   * WORKLOAD_SELECTOR ones it lists (those received so far; see unknownPoliciesFor).
   */
  policiesFor(workload: Workload): Authorization[] {
    const keys = new Set([...this.#globalPolicies, ...(this.#namespacePolicies.get(workload.namespace) ?? [])]);
    for (const key of workload.authorizationPolicies ?? []) keys.add(key);
    const out: Authorization[] = [];
    for (const key of keys) {
      const policy = this.#policies.get(key);
      if (policy !== undefined) out.push(policy);
    }
    return out;
  }

  /** Policies a workload lists that discovery has not delivered (yet): callers fail closed. */
  unknownPoliciesFor(workload: Workload): string[] {
    return (workload.authorizationPolicies ?? []).filter((key) => !this.#policies.has(key));
  }

  policy(key: string): Authorization | undefined {
    return this.#policies.get(key);
  }

  /** Plain data for /config_dump. */
  dump(): StateDump {
    return { workloads: [...this.#workloads.values()], services: [...this.#services.values()], policies: [...this.#policies.values()] };
  }

  #putAddress(name: string, address: Address): void {
    this.#removeAddress(name);
    if (address.workload !== undefined) {
      const w = address.workload;
      this.#workloads.set(name, w);
      for (const ip of w.addresses ?? []) addTo(this.#workloadsByIp, ip, name);
      if (w.node) addTo(this.#workloadsByNode, w.node, name);
    } else {
      const s = address.service;
      this.#services.set(name, s);
      for (const vip of s.addresses ?? []) addTo(this.#servicesByVip, vip, name);
      addTo(this.#servicesByHostname, s.hostname, name);
    }
  }

  #removeAddress(name: string): boolean {
    const w = this.#workloads.get(name);
    if (w !== undefined) {
      this.#workloads.delete(name);
      for (const ip of w.addresses ?? []) removeFrom(this.#workloadsByIp, ip, name);
      if (w.node) removeFrom(this.#workloadsByNode, w.node, name);
      return true;
    }
    const s = this.#services.get(name);
    if (s !== undefined) {
      this.#services.delete(name);
      for (const vip of s.addresses ?? []) removeFrom(this.#servicesByVip, vip, name);
      removeFrom(this.#servicesByHostname, s.hostname, name);
      return true;
    }
    return false;
  }

  #putPolicy(name: string, policy: Authorization): void {
    this.#removePolicy(name);
    this.#policies.set(name, policy);
    if (policy.scope === 'GLOBAL') this.#globalPolicies.add(name);
    else if (policy.scope === 'NAMESPACE') addTo(this.#namespacePolicies, policy.namespace, name);
  }

  #removePolicy(name: string): boolean {
    const policy = this.#policies.get(name);
    if (policy === undefined) return false;
    this.#policies.delete(name);
    this.#globalPolicies.delete(name);
    removeFrom(this.#namespacePolicies, policy.namespace, name);
    return true;
  }
}

function addTo(index: Map<string, Set<string>>, key: string, value: string): void {
  let set = index.get(key);
  if (set === undefined) index.set(key, (set = new Set()));
  set.delete(value); // re-adding moves it to the end: the newest claim wins
  set.add(value);
}

function removeFrom(index: Map<string, Set<string>>, key: string, value: string): void {
  const set = index.get(key);
  if (set === undefined) return;
  set.delete(value);
  if (set.size === 0) index.delete(key);
}

function last<T>(set: Set<T>): T | undefined {
  let out: T | undefined;
  for (const v of set) out = v;
  return out;
}

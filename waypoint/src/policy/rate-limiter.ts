// The waypoint's rate limits: the RateLimitPolicies that apply to a request, checked against
// their counters (this replica's token buckets, or the sliding logs in Redis shared by every
// replica), with one answer for the request stack.
//
// Which limits apply: a policy attaches to targets of its own namespace: a Gateway-targeted
// policy to every request of that waypoint, a Service-targeted one to requests for that
// service, a route-targeted one to requests its HTTPRoute/GRPCRoute routes. Every applicable
// limit whose `when` holds must pass (Kuadrant's defaults/overrides merging is not supported:
// the strictest limit wins). A limit is one set of counters shared by all of its targets.
//
// Order: local limits first, all of them checked before any token is spent, so a request one
// local limit refuses is counted by none; only then Redis, one script call per store for all of
// the request's Redis limits (again all checked before any is recorded). A request Redis
// refuses has spent its local tokens, as with Envoy's local filter ahead of its global one.
// The call is synchronous when no Redis limit applies: the common case costs no promise.
//
// Failure modes (Envoy's rate limit filter): Redis down, refusing or slower than the policy's
// `store.timeout` gives `store-error`. failureMode Open (default) admits the request
// (`failClosed: false`, counted by `events.storeError(policy, true)`); Closed refuses it
// (`failClosed: true`), which the stack answers 500 with flag RLSE, as Envoy's
// `failure_mode_deny` does. A limit refused answers 429 with flag RL and the headers below.
import type { BackoffOptions, Clock } from '@ambient/api';
import type { PolicyTargetKind, RateLimit, RateLimitPolicySpec, RateLimitRate } from '@ambient/api/mesh-policy';
import type { Logger } from 'pino';
import { LocalRateLimit } from './local-rate-limit.ts';
import {
  allHold,
  type AttributeReader,
  attributeReader,
  compilePredicate,
  counterKey,
  type RateLimitRequest,
  type RequestPredicate,
} from './rate-limit-match.ts';
import { MissingRateLimitStore, type RateLimitStoreClient, type RedisCounter, RedisRateLimitStore, type RedisTake, redisRateArgs } from './redis-rate-limit.ts';

export type { RateLimitRequest } from './rate-limit-match.ts';
export { RateLimitStoreError } from './redis-rate-limit.ts';

export interface RateLimitPolicyInput {
  namespace: string;
  name: string;
  spec: RateLimitPolicySpec;
}

/** Where a request goes: the targets a policy can attach to. */
export interface RateLimitScope {
  gateway: { namespace: string; name: string };
  service?: { namespace: string; name: string };
  route?: { namespace: string; name: string; kind: 'HTTPRoute' | 'GRPCRoute' };
}

export type RateLimitOutcome =
  | { kind: 'allowed' }
  | {
      kind: 'limited';
      /** "<namespace>/<name>" of the policy. */
      policy: string;
      /** The limit's name under `spec.limits`. */
      limit: string;
      /** x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-reset, retry-after (seconds). */
      headers: Record<string, string>;
    }
  | { kind: 'store-error'; policy: string; failClosed: boolean; error: Error };

export interface RateLimitEvents {
  limited(policy: string, limit: string): void;
  /** Once per policy per request whose store failed; `failedOpen` = the request was admitted. */
  storeError(policy: string, failedOpen: boolean): void;
  storeConnection(address: string, up: boolean): void;
}

export interface RateLimiterOptions {
  clock: Pick<Clock, 'now'>;
  /** The waypoint's `--redis-address`, for Redis policies that name none. */
  redisAddress?: string;
  events?: RateLimitEvents;
  logger?: Logger;
  /** Counter keys per local limit before the least recently used is dropped; default 10 000. */
  maxLocalKeys?: number;
  /** Redis reconnect delays (tests shorten them). */
  redisBackoff?: BackoffOptions;
}

const ALLOWED: RateLimitOutcome = Object.freeze({ kind: 'allowed' });

interface CompiledLimit {
  /** "<namespace>/<name>". */
  policy: string;
  name: string;
  rates: readonly RateLimitRate[];
  when: RequestPredicate[];
  counters: AttributeReader[];
  /** x-ratelimit-limit per rate, built once. */
  limitHeaders: string[];
  local: LocalRateLimit | undefined;
  redis: { store: RateLimitStoreClient; keyPrefix: string; rateArgs: string[]; failClosed: boolean } | undefined;
  /** The check() that last saw it: a limit reached through two targets counts once. */
  seen: number;
}

type TargetIndex = Map<string, Map<string, CompiledLimit[]>>;

interface PendingRedis {
  store: RateLimitStoreClient;
  limits: CompiledLimit[];
  counters: RedisCounter[];
}

export class RateLimiter {
  readonly #clock: Pick<Clock, 'now'>;
  readonly #redisAddress: string | undefined;
  readonly #events: RateLimitEvents | undefined;
  readonly #logger: Logger | undefined;
  readonly #maxLocalKeys: number | undefined;
  readonly #redisBackoff: BackoffOptions | undefined;
  #index = new Map<PolicyTargetKind, TargetIndex>();
  /** Local counters by limit identity (policy, limit, rates, counters), kept across updates. */
  #locals = new Map<string, LocalRateLimit>();
  /** Redis clients by "address|timeout"; the missing-address store under "". */
  #stores = new Map<string, RateLimitStoreClient>();
  readonly #closing = new Set<Promise<void>>();
  #epoch = 0;
  #closed = false;
  // Scratch for check(): local limits that passed peek, spent only once all have.
  #passLocal: LocalRateLimit[] = [];
  #passKeys: string[] = [];

  constructor(o: RateLimiterOptions) {
    this.#clock = o.clock;
    this.#redisAddress = o.redisAddress;
    this.#events = o.events;
    this.#logger = o.logger;
    this.#maxLocalKeys = o.maxLocalKeys;
    this.#redisBackoff = o.redisBackoff;
  }

  /**
   * The policies now in force (already parsed: a policy that failed to parse is not here).
   * A limit whose policy, name, rates, counters and store are unchanged keeps its local
   * counters; anything else starts afresh. Redis clients no longer used are closed.
   */
  update(policies: readonly RateLimitPolicyInput[]): void {
    if (this.#closed) return;
    const index = new Map<PolicyTargetKind, TargetIndex>();
    const locals = new Map<string, LocalRateLimit>();
    const stores = new Map<string, RateLimitStoreClient>();
    for (const p of policies) {
      const policy = `${p.namespace}/${p.name}`;
      const { store } = p.spec;
      let client: RateLimitStoreClient | undefined;
      if (store.type === 'Redis') {
        const address = store.address ?? this.#redisAddress;
        if (address === undefined)
          this.#logger?.warn({ policy }, 'RateLimitPolicy with a Redis store and no address, and no --redis-address: its failureMode decides every request');
        client = this.#store(address, store.timeoutMs, stores);
      }
      for (const limit of p.spec.limits) {
        const compiled = this.#compile(policy, limit, p.spec, client, locals);
        for (const t of p.spec.targets) {
          let byNamespace = index.get(t.kind);
          if (byNamespace === undefined) index.set(t.kind, (byNamespace = new Map()));
          let byName = byNamespace.get(p.namespace);
          if (byName === undefined) byNamespace.set(p.namespace, (byName = new Map()));
          let list = byName.get(t.name);
          if (list === undefined) byName.set(t.name, (list = []));
          list.push(compiled);
        }
      }
    }
    for (const [key, client] of this.#stores) if (stores.get(key) !== client) this.#closeStore(client);
    this.#index = index;
    this.#locals = locals;
    this.#stores = stores;
  }

  /** Target kinds with at least one limit: 0 means every check allows, so callers can skip building a request. */
  get size(): number {
    return this.#index.size;
  }

  /** The rate limit answer for one request: synchronous unless a Redis limit applies. */
  check(scope: RateLimitScope, req: RateLimitRequest): RateLimitOutcome | Promise<RateLimitOutcome> {
    const gateway = this.#limitsOf('Gateway', scope.gateway.namespace, scope.gateway.name);
    const service = scope.service === undefined ? undefined : this.#limitsOf('Service', scope.service.namespace, scope.service.name);
    const route = scope.route === undefined ? undefined : this.#limitsOf(scope.route.kind, scope.route.namespace, scope.route.name);
    if (gateway === undefined && service === undefined && route === undefined) return ALLOWED;
    const epoch = ++this.#epoch;
    const now = this.#clock.now();
    let passed = 0;
    let pending: PendingRedis[] | undefined;
    for (let l = 0; l < 3; l++) {
      const list = l === 0 ? gateway : l === 1 ? service : route;
      if (list === undefined) continue;
      for (let i = 0; i < list.length; i++) {
        const limit = list[i]!;
        if (limit.seen === epoch || !allHold(limit.when, req)) continue;
        limit.seen = epoch;
        const key = counterKey(limit.counters, req);
        if (limit.local !== undefined) {
          const refusal = limit.local.peek(key, now);
          if (refusal !== undefined) {
            this.#passLocal.length = 0;
            this.#passKeys.length = 0;
            return this.#limited(limit, refusal.rate, refusal.retryAfterMs);
          }
          this.#passLocal[passed] = limit.local;
          this.#passKeys[passed++] = key;
        } else if (limit.redis !== undefined) {
          pending ??= [];
          const { store, keyPrefix, rateArgs } = limit.redis;
          let group = pending.find((g) => g.store === store);
          if (group === undefined) pending.push((group = { store, limits: [], counters: [] }));
          group.limits.push(limit);
          group.counters.push({ key: keyPrefix + key, rateArgs });
        }
      }
    }
    for (let i = 0; i < passed; i++) this.#passLocal[i]!.tryTake(this.#passKeys[i]!, now);
    this.#passLocal.length = 0;
    this.#passKeys.length = 0;
    return pending === undefined ? ALLOWED : this.#checkRedis(pending);
  }

  /** Closes the Redis clients; later checks of Redis limits see a store error. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const client of this.#stores.values()) this.#closeStore(client);
    this.#stores = new Map();
    await Promise.all(this.#closing);
  }

  /** Local limits and their live counter counts, for the admin config dump and metrics. */
  localCounters(): { policy: string; limit: string; keys: number; evicted: number }[] {
    const out: { policy: string; limit: string; keys: number; evicted: number }[] = [];
    for (const [id, local] of this.#locals) {
      const [policy, limit] = id.split('\n');
      out.push({ policy: policy!, limit: limit!, keys: local.size, evicted: local.evicted });
    }
    return out;
  }

  #limitsOf(kind: PolicyTargetKind, namespace: string, name: string): CompiledLimit[] | undefined {
    return this.#index.get(kind)?.get(namespace)?.get(name);
  }

  #compile(
    policy: string,
    limit: RateLimit,
    spec: RateLimitPolicySpec,
    client: RateLimitStoreClient | undefined,
    locals: Map<string, LocalRateLimit>,
  ): CompiledLimit {
    const compiled: CompiledLimit = {
      policy,
      name: limit.name,
      rates: limit.rates,
      when: limit.when.map(compilePredicate),
      counters: limit.counters.map((c) => attributeReader(c.attribute)),
      limitHeaders: limit.rates.map(limitHeader),
      local: undefined,
      redis: undefined,
      seen: 0,
    };
    if (client !== undefined && spec.store.type === 'Redis') {
      compiled.redis = {
        store: client,
        // The same key on every replica: the policy and limit name, then the counter values.
        keyPrefix: `ambient-rl:${policy}/${limit.name}:`,
        rateArgs: redisRateArgs(limit.rates),
        failClosed: spec.store.failureMode === 'Closed',
      };
      return compiled;
    }
    // What a bucket means: change any of it and old tokens would be meaningless.
    const id = `${policy}\n${limit.name}\n${JSON.stringify(limit.rates)}\n${limit.counters.map((c) => c.text).join('\n')}`;
    let local = locals.get(id) ?? this.#locals.get(id);
    if (local === undefined) local = new LocalRateLimit(limit.rates, this.#maxLocalKeys === undefined ? {} : { maxKeys: this.#maxLocalKeys });
    locals.set(id, local);
    compiled.local = local;
    return compiled;
  }

  #store(address: string | undefined, timeoutMs: number, stores: Map<string, RateLimitStoreClient>): RateLimitStoreClient {
    const key = address === undefined ? '' : `${address}|${timeoutMs}`;
    let client = stores.get(key) ?? this.#stores.get(key);
    if (client === undefined) {
      if (address === undefined) {
        client = new MissingRateLimitStore();
      } else {
        const events = this.#events;
        client = new RedisRateLimitStore({
          address,
          timeoutMs,
          ...(events === undefined ? {} : { onConnection: (up: boolean) => events.storeConnection(address, up) }),
          ...(this.#logger === undefined ? {} : { logger: this.#logger }),
          ...(this.#redisBackoff === undefined ? {} : { backoff: this.#redisBackoff }),
        });
      }
    }
    stores.set(key, client);
    return client;
  }

  #closeStore(client: RateLimitStoreClient): void {
    const p = client.close().catch((err: unknown) => this.#logger?.warn({ address: client.address, err }, 'rate limit store close failed'));
    this.#closing.add(p);
    void p.finally(() => this.#closing.delete(p));
  }

  async #checkRedis(pending: PendingRedis[]): Promise<RateLimitOutcome> {
    const takes = await Promise.all(pending.map((g) => g.store.take(g.counters)));
    let limited: RateLimitOutcome | undefined;
    let failure: RateLimitOutcome | undefined;
    for (let g = 0; g < pending.length; g++) {
      const take: RedisTake = takes[g]!;
      const group = pending[g]!;
      if (take.kind === 'limited') {
        limited ??= this.#limited(group.limits[take.counter]!, take.rate, take.retryAfterMs);
      } else if (take.kind === 'store-error') {
        const reported = new Set<string>();
        for (const limit of group.limits) {
          const failClosed = limit.redis!.failClosed;
          if (!reported.has(limit.policy)) {
            reported.add(limit.policy);
            this.#events?.storeError(limit.policy, !failClosed);
          }
          // Closed beats open: one fail-closed policy refuses the request.
          if (failure === undefined || (failClosed && failure.kind === 'store-error' && !failure.failClosed)) {
            failure = { kind: 'store-error', policy: limit.policy, failClosed, error: take.error };
          }
        }
      }
    }
    return limited ?? failure ?? ALLOWED;
  }

  #limited(limit: CompiledLimit, rate: number, retryAfterMs: number): RateLimitOutcome {
    this.#events?.limited(limit.policy, limit.name);
    const seconds = String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
    return {
      kind: 'limited',
      policy: limit.policy,
      limit: limit.name,
      headers: {
        'x-ratelimit-limit': limit.limitHeaders[rate]!,
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': seconds,
        'retry-after': seconds,
      },
    };
  }
}

/**
 * The IETF RateLimit header fields draft 03 form Envoy sends: "100, 100;w=60", the window in
 * whole seconds; a sub-second or fractional window only states the limit.
 */
function limitHeader(r: RateLimitRate): string {
  return r.windowMs % 1000 === 0 ? `${r.limit}, ${r.limit};w=${r.windowMs / 1000}` : String(r.limit);
}

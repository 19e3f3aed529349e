// A limit's counters shared by every waypoint replica (`store: {type: Redis}`): one Redis sorted
// set per counter key holding a sliding window log, checked and updated by ONE Lua script, so
// that replicas racing on a counter are serialized by Redis: of 3N concurrent requests against a
// limit of N, exactly N pass, whichever replicas they reach.
//
// Why a sliding log and not fixed windows (Limitador's, and Envoy's ratelimit service's):
// a fixed window admits `limit` at the end of one window and `limit` again at the start of the
// next, 2× the limit within one window's length, and resets every client's counter at the same
// instant, inviting synchronized bursts. The log admits a request only if fewer than `limit`
// were admitted in the last `window` ending now: exact in every interval, at a cost of one
// entry per admitted request (the parser caps a Redis limit at 100 000 per window). Refused
// requests are not logged, so a client that keeps retrying does not extend its own penalty.
//
// Why Redis TIME: the script reads the clock inside Redis, so replicas whose clocks disagree
// still share one timeline (Redis 5+ replicates a script's effects, so TIME is allowed).
//
// Failure is an outcome, never an exception: a Redis that is down, refuses, or does not answer
// within the policy's timeout resolves `take` with `store-error` (the caller applies the
// policy's failureMode). The client never queues commands while disconnected
// (`enableOfflineQueue: false`) and never retries one (`maxRetriesPerRequest: 0`): a rate limit
// answer that comes late is worth nothing, and queuing would hold requests hostage to Redis.
// A call that timed out may still run in Redis afterwards and be counted: the error is on the
// side of counting a request the waypoint decided without Redis.
import { randomUUID } from 'node:crypto';
import { Backoff, type BackoffOptions, MeshError } from '@ambient/api';
import { parseStoreAddress, type RateLimitRate } from '@ambient/api/mesh-policy';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';

export class RateLimitStoreError extends MeshError<'ERR_RATE_LIMIT_STORE'> {
  /** "host:port" of the store, or "" when the policy has none. */
  readonly address: string;

  constructor(address: string, message: string, options?: { cause?: unknown }) {
    super('ERR_RATE_LIMIT_STORE', `rate limit store redis ${address === '' ? '(no address)' : address}: ${message}`, options);
    this.address = address;
  }
}

/** One counter of one limit, as the script checks it. */
export interface RedisCounter {
  key: string;
  /** From `redisRateArgs(rates)`, computed once per config. */
  rateArgs: readonly string[];
}

export type RedisTake =
  | { kind: 'allowed' }
  /** `counter` indexes the counters given, `rate` that counter's rates. */
  | { kind: 'limited'; counter: number; rate: number; retryAfterMs: number }
  | { kind: 'store-error'; error: RateLimitStoreError };

/** The rates of a limit as the script's arguments: count, then limit and window (µs) per rate. */
export function redisRateArgs(rates: readonly RateLimitRate[]): string[] {
  const args = [String(rates.length)];
  for (const r of rates) args.push(String(r.limit), String(r.windowMs * 1000));
  return args;
}

/**
 * KEYS: one sorted set per counter. ARGV[1]: this request's log entry (unique per request);
 * then per key: the number of rates n, then n pairs (limit, window in µs).
 * Every counter of the request is checked before any is recorded, so a request refused by one
 * limit is counted by none. Returns {1} when admitted, else {0, key index, rate index, µs until
 * the entry whose leaving makes room leaves}.
 *
 * Scores are µs since the epoch (< 2^53, exact in a double). Lua's tostring prints numbers
 * with 14 digits, so a score that goes into a command as a string is formatted with %.0f.
 */
export const SLIDING_LOG_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local a = 2
local longest = {}
for k = 1, #KEYS do
  local n = tonumber(ARGV[a])
  local span = 0
  for r = 1, n do
    local w = tonumber(ARGV[a + 2 * r])
    if w > span then span = w end
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', string.format('%.0f', now - span))
  for r = 1, n do
    local limit = tonumber(ARGV[a + 2 * r - 1])
    local w = tonumber(ARGV[a + 2 * r])
    local since = string.format('(%.0f', now - w)
    local count = redis.call('ZCOUNT', KEYS[k], since, '+inf')
    if count >= limit then
      local e = redis.call('ZRANGEBYSCORE', KEYS[k], since, '+inf', 'WITHSCORES', 'LIMIT', count - limit, 1)
      return {0, k, r, tonumber(e[2]) + w - now}
    end
  end
  longest[k] = span
  a = a + 1 + 2 * n
end
for k = 1, #KEYS do
  redis.call('ZADD', KEYS[k], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[k], math.ceil(longest[k] / 1000))
end
return {1}
`;

interface SlidingLogCommands {
  ambientSlidingLog(numKeys: number, ...args: string[]): Promise<unknown>;
}

export interface RateLimitStoreClient {
  readonly address: string;
  take(counters: readonly RedisCounter[]): Promise<RedisTake>;
  close(): Promise<void>;
}

export interface RedisRateLimitStoreOptions {
  /** "host:port". */
  address: string;
  /** The budget of one call (the policy's `store.timeout`). */
  timeoutMs: number;
  /** Connection state changes: true once ready, false when lost (or first failing) and on close. */
  onConnection?: (up: boolean) => void;
  logger?: Logger;
  /** Reconnect delays; default 100 ms growing ×1.6 to 2 s, ±20 %. */
  backoff?: BackoffOptions;
}

/** Reconnect fast: while Redis is away every Redis limit runs on its failure mode. */
const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 2000 };

/** One ioredis client (one connection) to one Redis, with one call budget. */
export class RedisRateLimitStore implements RateLimitStoreClient {
  readonly address: string;
  readonly #client: Redis & SlidingLogCommands;
  readonly #timeoutMs: number;
  readonly #onConnection: ((up: boolean) => void) | undefined;
  readonly #logger: Logger | undefined;
  /** Makes log entries unique across replicas: the sorted set's members must differ per request. */
  readonly #entryPrefix = `${randomUUID()}:`;
  #sequence = 0;
  #up: boolean | undefined;
  #closed = false;

  constructor(o: RedisRateLimitStoreOptions) {
    const hostPort = parseStoreAddress(o.address);
    if (hostPort === undefined) throw new RangeError(`invalid redis address ${JSON.stringify(o.address)}: expected "host:port"`);
    if (!(o.timeoutMs > 0)) throw new RangeError(`invalid redis timeout ${o.timeoutMs}: expected > 0 ms`);
    this.address = o.address;
    this.#timeoutMs = o.timeoutMs;
    this.#onConnection = o.onConnection;
    this.#logger = o.logger;
    const backoff = new Backoff({ ...DEFAULT_BACKOFF, ...o.backoff });
    this.#client = new Redis({
      host: hostPort.host,
      port: hostPort.port,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: o.timeoutMs,
      // A connect that hangs (a blackholed address) is given up quickly and retried on backoff;
      // meanwhile calls fail at once rather than wait.
      connectTimeout: Math.max(1000, 10 * o.timeoutMs),
      retryStrategy: () => backoff.next(),
      // Redis 7.0 has no CLIENT SETINFO; skipping it spares an error reply per connect.
      disableClientInfo: true,
      connectionName: 'ambient-waypoint-rate-limit',
    }) as Redis & SlidingLogCommands;
    this.#client.defineCommand('ambientSlidingLog', { lua: SLIDING_LOG_LUA });
    this.#client.on('ready', () => {
      backoff.reset();
      this.#setUp(true);
    });
    this.#client.on('close', () => this.#setUp(false));
    // Without a listener an 'error' event would crash the process; the state change is logged once.
    this.#client.on('error', (err: Error) => {
      if (this.#up !== false) this.#logger?.warn({ address: this.address, err }, 'rate limit store unreachable');
      this.#setUp(false);
    });
  }

  /** Whether the connection is ready now. */
  get up(): boolean {
    return this.#up === true;
  }

  /** Checks and records `counters` atomically; never rejects. */
  take(counters: readonly RedisCounter[]): Promise<RedisTake> {
    if (this.#closed) return Promise.resolve({ kind: 'store-error', error: new RateLimitStoreError(this.address, 'client closed') });
    // KEYS, then ARGV: this request's log entry, then each counter's rate arguments.
    const args: string[] = [];
    for (const c of counters) args.push(c.key);
    args.push(`${this.#entryPrefix}${this.#sequence++}`);
    for (const c of counters) for (const v of c.rateArgs) args.push(v);
    return this.#client.ambientSlidingLog(counters.length, ...args).then(
      (reply) => this.#outcome(reply),
      (err: Error) => ({ kind: 'store-error', error: this.#error(err) }),
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Reported down now, not on the socket's close event: a closed store reports nothing after.
    this.#setUp(false);
    this.#closed = true;
    // disconnect(), not quit(): a quit would wait on a Redis that may never answer.
    this.#client.disconnect();
  }

  #outcome(reply: unknown): RedisTake {
    if (Array.isArray(reply) && reply[0] === 1) return { kind: 'allowed' };
    if (Array.isArray(reply) && reply[0] === 0 && reply.length === 4) {
      const [, counter, rate, waitUs] = reply as number[];
      return { kind: 'limited', counter: counter! - 1, rate: rate! - 1, retryAfterMs: Math.max(1, Math.ceil(waitUs! / 1000)) };
    }
    return { kind: 'store-error', error: new RateLimitStoreError(this.address, `unexpected script reply ${JSON.stringify(reply)}`) };
  }

  #error(err: Error): RateLimitStoreError {
    const why =
      err.message === 'Command timed out' ? `no answer within ${this.#timeoutMs}ms` : this.#up === true ? err.message : `not connected (${err.message})`;
    return new RateLimitStoreError(this.address, why, { cause: err });
  }

  #setUp(up: boolean): void {
    if (this.#up === up || this.#closed) return;
    this.#up = up;
    if (up) this.#logger?.info({ address: this.address }, 'rate limit store connected');
    this.#onConnection?.(up);
  }
}

/** The store of Redis policies that name no address when the waypoint has no `--redis-address`. */
export class MissingRateLimitStore implements RateLimitStoreClient {
  readonly address = '';
  readonly #error = new RateLimitStoreError('', 'the policy names no spec.store.address and the waypoint has no --redis-address');

  take(): Promise<RedisTake> {
    return Promise.resolve({ kind: 'store-error', error: this.#error });
  }

  async close(): Promise<void> {}
}

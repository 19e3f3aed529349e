// The delta discovery service (xDS delta ADS semantics over the project's protos): one
// bidirectional stream per proxy. A stream is authenticated (ServiceAccount token) and its Node
// claim authorized before anything is sent; then each subscribed type gets an initial response
// and, after every debounced model change, only the resources that changed for it. One response
// per type may be un-ACKed at a time; changes coalesce meanwhile.
import * as grpc from '@grpc/grpc-js';
import { typeUrls } from '@ambient/api';
import { deltaResponseSize, packAny } from '@ambient/api/grpc';
import type { AggregatedDiscoveryServiceHandlers, XdsDeltaDiscoveryRequest, XdsDeltaDiscoveryResponse, XdsResource } from '@ambient/api/grpc';
import type { Logger } from 'pino';
import { UnauthenticatedError } from '../auth/caller.ts';
import type { Authenticator, Caller } from '../auth/caller.ts';
import type { IstiodMetrics } from '../metrics.ts';
import { ackInflight, applySubscriptionChange, computeDelta, markDirty, nackInflight, newTypeSubscription } from './delta-state.ts';
import type { TypeSubscription } from './delta-state.ts';
import { CallerStreamLimit, callerStreamKey, defaultMaxStreamsPerCaller } from './caller-stream-limit.ts';
import type { PodLookup } from '../kube/pod-lookup.ts';
import { defaultMaxPushBytesInFlight, PushBudget, type PushBudgetStats } from './push-budget.ts';
import { authorizeProxy, type ProxyAuthorizationContext } from './proxy-authorization.ts';
import type { ProxyNode, ResourceChange, ResourceSource, VersionedResource } from './resource-source.ts';
import { MeshError } from '@ambient/api';

export interface DiscoveryServiceOptions {
  source: ResourceSource;
  authenticator: Authenticator;
  metrics: IstiodMetrics;
  logger: Logger;
  /** Quiet period after a change before pushing, ms (default 100). 0: push within the change
   *  itself, for a source that debounces already (istiod-lite's model recompute). */
  debounceMs?: number;
  /** Longest a push waits under continuous changes, ms (default 10 × debounceMs, at least 500). */
  debounceMaxMs?: number;
  /** The namespace of the ztunnel ServiceAccount (default istio-system). */
  rootNamespace?: string;
  /** Admit proxy type `test` (root-namespace ServiceAccounts only). Default false. */
  allowTestProxies?: boolean;
  /** The watched pods: a `sidecar` is admitted only for its own pod. Without it, no sidecar is. */
  pods?: PodLookup;
  /** Type URLs a proxy may subscribe to (default: those of resource-source.ts). */
  typeUrls?: readonly string[];
  /** Most resource names one stream may subscribe to or declare per type (default 100 000). */
  maxNamesPerType?: number;
  /** Concurrent streams one authenticated caller may hold (default 64); more are RESOURCE_EXHAUSTED. */
  maxStreamsPerCaller?: number;
  /** Response bytes written but not yet handed to the connections, across all streams, before
   *  further pushes wait their turn (push-budget.ts). Default 32 MiB (defaultMaxPushBytesInFlight). */
  maxPushBytesInFlight?: number;
  /** A push not written by then no longer counts against the budget (a proxy that stopped reading). Default 5000 ms. */
  pushStallMs?: number;
}

export interface ProxyTypeInfo {
  typeUrl: string;
  wildcard: boolean;
  subscribedNames: number;
  /** Resources the proxy holds (ACKed). */
  resources: number;
  pendingNonce: string | undefined;
  nacks: number;
  lastNack: { nonce: string; message: string; at: Date } | undefined;
}

export interface ProxyConnectionInfo {
  streamId: number;
  proxy: ProxyNode;
  caller: string;
  peer: string;
  connectedAt: Date;
  types: ProxyTypeInfo[];
}

export interface DiscoveryService {
  handlers: AggregatedDiscoveryServiceHandlers;
  connections(): ProxyConnectionInfo[];
  /** The push budget now: bytes in flight, their peak since start, pushes waiting. */
  pushBudget(): PushBudgetStats;
  /** Ends every stream (UNAVAILABLE, so proxies reconnect elsewhere) and stops pushing. */
  close(): void;
}

type DeltaCall = grpc.ServerDuplexStream<XdsDeltaDiscoveryRequest, XdsDeltaDiscoveryResponse>;

interface Connection {
  streamId: number;
  call: DeltaCall;
  log: Logger;
  peer: string;
  connectedAt: Date;
  caller: Caller | undefined;
  /** Set while the stream holds a slot under the per-caller cap: released once, in cleanup. */
  slot: string | undefined;
  proxy: ProxyNode | undefined;
  /** What the model is asked for: a `test` proxy sees exactly what a ztunnel on its node sees. */
  entitlement: ProxyNode | undefined;
  types: Map<string, TypeSubscription>;
  /** Releases of this stream's writes still in flight (the budget gets them back if it closes first). */
  writes: Set<() => void>;
  closed: boolean;
}

/** One stream's type: what waits in the push budget. */
interface PushKey {
  conn: Connection;
  typeUrl: string;
}

/** Ends a proxy's discovery stream with a gRPC status. */
class StreamError extends MeshError<'ERR_XDS_STREAM'> {
  readonly grpcCode: grpc.status;
  constructor(grpcCode: grpc.status, message: string) {
    super('ERR_XDS_STREAM', message);
    this.grpcCode = grpcCode;
  }
}

/** A short label for metrics: the message name of a type URL. */
function typeLabel(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('.') + 1);
}

function bearerToken(metadata: grpc.Metadata): string | undefined {
  const value = metadata.get('authorization')[0];
  if (typeof value !== 'string') return undefined;
  const match = /^Bearer\s+(\S+)$/i.exec(value.trim());
  return match?.[1];
}

export function createDiscoveryService(opts: DiscoveryServiceOptions): DiscoveryService {
  const { source, authenticator, metrics, logger } = opts;
  const debounceMs = opts.debounceMs ?? 100;
  const debounceMaxMs = opts.debounceMaxMs ?? Math.max(500, debounceMs * 10);
  const rootNamespace = opts.rootNamespace ?? 'istio-system';
  const authorization: ProxyAuthorizationContext = {
    rootNamespace,
    allowTestProxies: opts.allowTestProxies === true,
    ...(opts.pods ? { pods: opts.pods } : {}),
  };
  const allowedTypes = new Set(opts.typeUrls ?? Object.values(typeUrls));
  const maxNames = opts.maxNamesPerType ?? 100_000;
  const connections = new Set<Connection>();
  const streamLimit = new CallerStreamLimit(opts.maxStreamsPerCaller ?? defaultMaxStreamsPerCaller);
  const budget = new PushBudget<PushKey>(opts.maxPushBytesInFlight ?? defaultMaxPushBytesInFlight);
  const writeStallMs = opts.pushStallMs ?? 5000;
  // One PushKey object per stream and type, so the budget's queue holds each once.
  const pushKeys = new WeakMap<TypeSubscription, PushKey>();
  const pushKey = (conn: Connection, typeUrl: string, sub: TypeSubscription): PushKey => {
    let key = pushKeys.get(sub);
    if (key === undefined) pushKeys.set(sub, (key = { conn, typeUrl }));
    return key;
  };
  // Read at scrape time: nothing on the push path.
  metrics.pushBudget.stats = () => budget.stats();
  const drainBudget = (): void =>
    budget.drain(({ conn, typeUrl }) => {
      const sub = conn.types.get(typeUrl);
      if (sub !== undefined) trySend(conn, typeUrl, sub, true);
    });
  // Packing is the costly part of a push: the same VersionedResource object is packed once and
  // reused by every stream until the model replaces it.
  const packed = new WeakMap<VersionedResource, XdsResource>();
  let streamSeq = 0;
  let nonceSeq = 0;
  let closed = false;

  // ---- pushes ----------------------------------------------------------------------------------
  let pending = new Map<string, Set<string> | 'all'>();
  let pendingSince: number | undefined;
  let firstPendingAt = 0;
  let debounceTimer: NodeJS.Timeout | undefined;

  const unsubscribe = source.onChange((change: ResourceChange) => {
    if (closed) return;
    for (const [typeUrl, names] of change.changed) {
      const have = pending.get(typeUrl);
      if (have === 'all') continue;
      if (names === 'all') pending.set(typeUrl, 'all');
      else if (have === undefined) pending.set(typeUrl, new Set(names));
      else for (const name of names) have.add(name);
    }
    pendingSince = pendingSince === undefined ? change.seenAt : Math.min(pendingSince, change.seenAt);
    if (debounceMs === 0) return flush();
    const now = performance.now();
    if (debounceTimer === undefined) firstPendingAt = now;
    else clearTimeout(debounceTimer);
    const wait = Math.max(0, Math.min(debounceMs, firstPendingAt + debounceMaxMs - now));
    debounceTimer = setTimeout(flush, wait);
  });

  function flush(): void {
    debounceTimer = undefined;
    const changed = pending;
    const seenAt = pendingSince ?? performance.now();
    pending = new Map();
    pendingSince = undefined;
    for (const conn of connections) {
      if (conn.closed || conn.proxy === undefined) continue;
      for (const [typeUrl, sub] of conn.types) {
        const names = changed.get(typeUrl);
        if (names === undefined) continue;
        markDirty(sub, names);
        sub.dirtySince = sub.dirtySince === undefined ? seenAt : Math.min(sub.dirtySince, seenAt);
        send(conn, typeUrl, sub); // a failure ends this stream only (send catches it)
      }
    }
  }

  function packResource(typeUrl: string, name: string, resource: VersionedResource): XdsResource {
    const cached = packed.get(resource);
    if (cached !== undefined && cached.name === name) return cached;
    const wire: XdsResource = { name, version: resource.version, resource: packAny(typeUrl, resource.payload) };
    packed.set(resource, wire);
    return wire;
  }

  /** Sends what changed for one type, unless a response is still awaiting its ACK or the push budget is spent. */
  function send(conn: Connection, typeUrl: string, sub: TypeSubscription): void {
    try {
      trySend(conn, typeUrl, sub, false);
    } catch (err) {
      fail(conn, err);
    }
  }

  function trySend(conn: Connection, typeUrl: string, sub: TypeSubscription, admitted: boolean): void {
    if (conn.closed || sub.inflight !== undefined) return;
    if (sub.answered && sub.dirty !== 'all' && sub.dirty.size === 0) return;
    if (!admitted && !budget.admit(pushKey(conn, typeUrl, sub))) return;
    const delta = computeDelta(sub, source.resources(conn.entitlement!, typeUrl));
    sub.dirty = new Set();
    if (sub.answered && delta.upserts.length === 0 && delta.removed.length === 0) {
      sub.dirtySince = undefined;
      return;
    }
    const resources: XdsResource[] = [];
    const changes = new Map<string, string | null>();
    for (const [name, resource] of delta.upserts) {
      try {
        resources.push(packResource(typeUrl, name, resource));
        changes.set(name, resource.version);
      } catch (err) {
        // A malformed resource rejects only itself: the proxy keeps what it had for that name.
        conn.log.error({ err, typeUrl, resource: name }, 'cannot encode resource; not sent');
      }
    }
    for (const name of delta.removed) changes.set(name, null);
    const nonce = String(++nonceSeq);
    sub.inflight = { nonce, changes };
    sub.answered = true;
    const response: XdsDeltaDiscoveryResponse = { typeUrl, systemVersionInfo: nonce, resources, removedResources: delta.removed, nonce };
    const release = budget.started(deltaResponseSize(response));
    // A proxy that stops reading must not hold everyone's pushes: a write not done by then stops counting.
    const stalled = setTimeout(() => done(), writeStallMs).unref();
    const done = (): void => {
      clearTimeout(stalled);
      if (!conn.writes.delete(release)) return;
      release();
      drainBudget();
    };
    conn.writes.add(release);
    conn.call.write(response, done);
    metrics.pushes.inc({ type: typeLabel(typeUrl) });
    if (sub.dirtySince !== undefined) {
      metrics.pushLatency.observe((performance.now() - sub.dirtySince) / 1000);
      sub.dirtySince = undefined;
    }
    conn.log.debug({ typeUrl, nonce, resources: resources.length, removed: delta.removed.length }, 'pushed');
  }

  // ---- requests --------------------------------------------------------------------------------
  function onRequest(conn: Connection, request: XdsDeltaDiscoveryRequest): void {
    if (conn.proxy === undefined) {
      if (request.node === undefined || request.node === null) throw new StreamError(grpc.status.INVALID_ARGUMENT, 'the first request must carry node');
      const verdict = authorizeProxy(request.node, conn.caller!, authorization);
      if (!verdict.ok) {
        throw new StreamError(verdict.code === 'permission-denied' ? grpc.status.PERMISSION_DENIED : grpc.status.INVALID_ARGUMENT, verdict.message);
      }
      conn.proxy = verdict.proxy;
      conn.entitlement = verdict.proxy.type === 'test' ? { ...verdict.proxy, type: 'ztunnel' } : verdict.proxy;
      conn.log = conn.log.child({ proxy: verdict.proxy.id, proxyType: verdict.proxy.type });
      metrics.connectedProxies.inc({ type: verdict.proxy.type });
      conn.log.info('proxy connected');
    }
    const typeUrl = request.typeUrl ?? '';
    if (!allowedTypes.has(typeUrl)) {
      throw new StreamError(grpc.status.INVALID_ARGUMENT, `unknown type url ${JSON.stringify(typeUrl)}: want one of ${[...allowedTypes].join(', ')}`);
    }
    const subscribe = request.resourceNamesSubscribe ?? [];
    const unsubscribeNames = request.resourceNamesUnsubscribe ?? [];
    let sub = conn.types.get(typeUrl);
    const first = sub === undefined;
    if (sub === undefined) {
      const declared = Object.keys(request.initialResourceVersions ?? {}).length;
      if (declared > maxNames)
        throw new StreamError(grpc.status.RESOURCE_EXHAUSTED, `${declared} initial resource versions for ${typeUrl}: at most ${maxNames}`);
      sub = newTypeSubscription(request.initialResourceVersions);
      conn.types.set(typeUrl, sub);
    }
    const nonce = request.responseNonce ?? '';
    if (nonce !== '') {
      if (sub.inflight?.nonce !== nonce) {
        // A stale nonce answers a response that a newer one superseded: nothing to learn from it.
        conn.log.debug({ typeUrl, nonce }, 'ignoring stale nonce');
      } else if (request.errorDetail && (request.errorDetail.code || request.errorDetail.message)) {
        const message = request.errorDetail.message || `code ${request.errorDetail.code}`;
        nackInflight(sub, message, new Date());
        metrics.rejects.inc({ type: typeLabel(typeUrl) });
        conn.log.warn({ typeUrl, nonce, reason: message }, 'proxy rejected a push; it keeps its previous config');
      } else {
        ackInflight(sub);
      }
    }
    applySubscriptionChange(sub, subscribe, unsubscribeNames, first);
    if (sub.names.size > maxNames)
      throw new StreamError(grpc.status.RESOURCE_EXHAUSTED, `${sub.names.size} resource names subscribed for ${typeUrl}: at most ${maxNames}`);
    send(conn, typeUrl, sub);
  }

  // ---- stream lifecycle ------------------------------------------------------------------------
  function cleanup(conn: Connection): void {
    if (conn.closed) return;
    conn.closed = true;
    connections.delete(conn);
    for (const release of conn.writes) release();
    conn.writes.clear();
    for (const [typeUrl, sub] of conn.types) budget.forget(pushKey(conn, typeUrl, sub));
    drainBudget();
    if (conn.slot !== undefined) streamLimit.release(conn.slot);
    conn.slot = undefined;
    if (conn.proxy !== undefined) {
      metrics.connectedProxies.dec({ type: conn.proxy.type });
      conn.log.info('proxy disconnected');
    }
  }

  function fail(conn: Connection, err: unknown): void {
    if (conn.closed) return;
    const status = err instanceof StreamError ? err.grpcCode : grpc.status.INTERNAL;
    const details = err instanceof StreamError ? err.message : `internal error: ${(err as Error).message}`;
    if (status === grpc.status.INTERNAL) conn.log.error({ err }, 'discovery stream failed');
    else conn.log.warn({ code: grpc.status[status], reason: details }, 'discovery stream refused');
    cleanup(conn);
    conn.call.emit('error', { code: status, details });
  }

  function deltaAggregatedResources(call: DeltaCall): void {
    const streamId = ++streamSeq;
    const peer = call.getPeer();
    const conn: Connection = {
      streamId,
      call,
      peer,
      log: logger.child({ stream: streamId, peer }),
      connectedAt: new Date(),
      caller: undefined,
      slot: undefined,
      proxy: undefined,
      entitlement: undefined,
      types: new Map(),
      writes: new Set(),
      closed: false,
    };
    if (closed) {
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'discovery server is shutting down' });
      return;
    }
    connections.add(conn);
    call.on('cancelled', () => cleanup(conn));
    call.on('error', () => cleanup(conn));
    call.on('close', () => cleanup(conn));
    const token = bearerToken(call.metadata);
    if (token === undefined) {
      fail(conn, new StreamError(grpc.status.UNAUTHENTICATED, 'missing "authorization: Bearer <token>" metadata'));
      return;
    }
    // Nothing is read before the caller is known: grpc-js reads a message only when a 'data'
    // listener asks for it, so requests wait in the HTTP/2 window meanwhile.
    authenticator.authenticate(token).then(
      (caller) => {
        if (conn.closed) return;
        conn.caller = caller;
        conn.log = conn.log.child({ caller: caller.username });
        // Before anything is read: a caller over its cap costs one refusal, never a subscription.
        const key = callerStreamKey(caller);
        if (!streamLimit.tryAcquire(key)) {
          metrics.streamsRefused.inc({ reason: 'caller_stream_limit' });
          fail(
            conn,
            new StreamError(
              grpc.status.RESOURCE_EXHAUSTED,
              `caller ${key} is at its limit of ${streamLimit.max} concurrent discovery streams (--max-streams-per-caller)`,
            ),
          );
          return;
        }
        conn.slot = key;
        call.on('data', (request: XdsDeltaDiscoveryRequest) => {
          if (conn.closed) return;
          try {
            onRequest(conn, request);
          } catch (err) {
            fail(conn, err);
          }
        });
        call.on('end', () => {
          cleanup(conn);
          call.end();
        });
      },
      (err: unknown) => {
        const known = err instanceof UnauthenticatedError;
        fail(
          conn,
          new StreamError(
            known ? grpc.status.UNAUTHENTICATED : grpc.status.UNAVAILABLE,
            known ? `authentication failed: ${err.message}` : `cannot verify token: ${(err as Error).message}`,
          ),
        );
      },
    );
  }

  return {
    handlers: { DeltaAggregatedResources: deltaAggregatedResources },
    connections: () =>
      [...connections]
        .filter((c) => c.proxy !== undefined && !c.closed)
        .map((c) => ({
          streamId: c.streamId,
          proxy: { ...c.proxy! },
          caller: c.caller?.username ?? '',
          peer: c.peer,
          connectedAt: c.connectedAt,
          types: [...c.types].map(([typeUrl, sub]) => ({
            typeUrl,
            wildcard: sub.wildcard,
            subscribedNames: sub.names.size,
            resources: sub.acked.size,
            pendingNonce: sub.inflight?.nonce,
            nacks: sub.nacks,
            lastNack: sub.lastNack,
          })),
        })),
    pushBudget: () => budget.stats(),
    close: () => {
      if (closed) return;
      closed = true;
      unsubscribe();
      if (debounceTimer !== undefined) clearTimeout(debounceTimer);
      debounceTimer = undefined;
      for (const conn of [...connections]) fail(conn, new StreamError(grpc.status.UNAVAILABLE, 'discovery server is shutting down'));
    },
  };
}

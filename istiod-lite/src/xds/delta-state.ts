// Per-stream, per-type delta bookkeeping (xDS delta ADS). Decisions are pure functions over this
// plain state; the server does the I/O.
import type { VersionedResource } from './resource-source.ts';

export const WILDCARD = '*';

export interface InflightResponse {
  nonce: string;
  /** What the proxy will hold once it ACKs: name → version, null = removed. */
  changes: Map<string, string | null>;
}

export interface TypeSubscription {
  wildcard: boolean;
  names: Set<string>;
  /** What the proxy is known to hold: ACKed, or declared in initial_resource_versions. */
  acked: Map<string, string>;
  /** The response awaiting ACK; nothing more is sent for the type meanwhile (flow control). */
  inflight: InflightResponse | undefined;
  /** Names to re-examine at the next send; 'all' = a full diff. */
  dirty: Set<string> | 'all';
  /** performance.now() of the oldest change not yet sent, for push latency. */
  dirtySince: number | undefined;
  /** Whether the initial request was answered (it always is, even with nothing, to mark sync). */
  answered: boolean;
  nacks: number;
  lastNack: { nonce: string; message: string; at: Date } | undefined;
}

export function newTypeSubscription(initialVersions: Record<string, string> | undefined): TypeSubscription {
  return {
    wildcard: false,
    names: new Set(),
    acked: new Map(Object.entries(initialVersions ?? {})),
    inflight: undefined,
    dirty: 'all',
    dirtySince: undefined,
    answered: false,
    nacks: 0,
    lastNack: undefined,
  };
}

export function markDirty(sub: TypeSubscription, names: Iterable<string> | 'all'): void {
  if (sub.dirty === 'all') return;
  if (names === 'all') {
    sub.dirty = 'all';
    return;
  }
  for (const name of names) sub.dirty.add(name);
}

/** Applies a request's subscribe/unsubscribe lists; the first request with none is a wildcard. */
export function applySubscriptionChange(sub: TypeSubscription, subscribe: readonly string[], unsubscribe: readonly string[], first: boolean): void {
  if (first && subscribe.length === 0) sub.wildcard = true;
  for (const name of subscribe) {
    if (name === WILDCARD) {
      if (!sub.wildcard) markDirty(sub, 'all');
      sub.wildcard = true;
    } else {
      sub.names.add(name);
      markDirty(sub, [name]);
    }
  }
  for (const name of unsubscribe) {
    if (name === WILDCARD) {
      if (sub.wildcard) markDirty(sub, 'all');
      sub.wildcard = false;
    } else {
      sub.names.delete(name);
      markDirty(sub, [name]);
    }
  }
}

export interface Delta {
  upserts: [string, VersionedResource][];
  removed: string[];
}

/** What to send so the proxy holds exactly the wanted, available resources among the dirty names. */
export function computeDelta(sub: TypeSubscription, available: ReadonlyMap<string, VersionedResource>): Delta {
  const upserts: [string, VersionedResource][] = [];
  const removed: string[] = [];
  let names: Iterable<string>;
  if (sub.dirty !== 'all') names = sub.dirty;
  else if (sub.wildcard) names = new Set([...available.keys(), ...sub.acked.keys()]);
  else names = new Set([...sub.names, ...sub.acked.keys()]);
  for (const name of names) {
    const current = sub.wildcard || sub.names.has(name) ? available.get(name) : undefined;
    const held = sub.acked.get(name);
    if (current !== undefined) {
      if (current.version !== held) upserts.push([name, current]);
    } else if (held !== undefined) {
      removed.push(name);
    }
  }
  return { upserts, removed };
}

/** The proxy accepted the in-flight response: it now holds those versions. */
export function ackInflight(sub: TypeSubscription): void {
  const inflight = sub.inflight;
  if (inflight === undefined) return;
  for (const [name, version] of inflight.changes) {
    if (version === null) sub.acked.delete(name);
    else sub.acked.set(name, version);
  }
  sub.inflight = undefined;
}

/**
 * The proxy rejected the in-flight response and keeps its old config: forget what was sent, so
 * any later change to those names is diffed against the old versions and sent again.
 */
export function nackInflight(sub: TypeSubscription, message: string, at: Date): void {
  const inflight = sub.inflight;
  if (inflight === undefined) return;
  sub.nacks += 1;
  sub.lastNack = { nonce: inflight.nonce, message, at };
  sub.inflight = undefined;
}

// Discovery → a proxy's state, the same way for every proxy: subscribe to the given types,
// validate each resource before it is ACKed (a malformed one NACKs its response and the old
// config stays), apply each update in one swap, report what changed, and say once when every
// subscribed type has been applied at least once (its initial response): before that, a proxy
// must not serve, or it would run on half a view (e.g. workloads without their policies).
import type { Logger } from 'pino';
import type { XdsNode } from '../grpc-protos.ts';
import { DeltaXdsClient } from './delta-client.ts';

/** What a proxy's state offers discovery: ProxyState, or a state that wraps one. */
export interface SubscribedState {
  validate(typeUrl: string, name: string, payload: unknown): void;
  apply(
    typeUrl: string,
    batch: { upserts: ReadonlyMap<string, unknown>; removals: readonly string[] },
  ): { rejected: readonly { name: string; error: Error }[] };
}

export interface StateSubscriptionOptions {
  /** istiod-lite's discovery address: host:port or unix:<path>. */
  address: string;
  rootCertPem: string;
  servername?: string | undefined;
  token: () => string;
  node: XdsNode;
  typeUrls: readonly string[];
  state: SubscribedState;
  logger: Logger;
  /** After an update is applied: its type and the names it upserted or removed. */
  onApplied?: (change: { typeUrl: string; touched: ReadonlySet<string> }) => void;
  /** Once, when every subscribed type has been applied at least once. */
  onSynced?: () => void;
}

export function subscribeState(opts: StateSubscriptionOptions): DeltaXdsClient {
  const { state, logger } = opts;
  const xds = new DeltaXdsClient({
    address: opts.address,
    rootCertPem: opts.rootCertPem,
    ...(opts.servername ? { servername: opts.servername } : {}),
    token: opts.token,
    node: opts.node,
    subscriptions: opts.typeUrls.map((typeUrl) => ({ typeUrl })),
    validate: (typeUrl, name, payload) => state.validate(typeUrl, name, payload),
  });
  const applied = new Set<string>();
  xds.on('update', (u) => {
    const result = state.apply(u.typeUrl, { upserts: new Map([...u.resources].map(([n, e]) => [n, e.payload])), removals: u.removed });
    if (result.rejected.length > 0) logger.warn({ rejected: result.rejected }, 'discovery resources rejected');
    opts.onApplied?.({ typeUrl: u.typeUrl, touched: new Set([...u.resources.keys(), ...u.removed]) });
    if (applied.size < opts.typeUrls.length && !applied.has(u.typeUrl)) {
      applied.add(u.typeUrl);
      if (applied.size === opts.typeUrls.length) opts.onSynced?.();
    }
  });
  xds.on('disconnected', (d) => logger.warn({ code: d.code, details: d.details }, 'discovery stream lost; reconnecting'));
  return xds;
}

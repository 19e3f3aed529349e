// Discovery → state: subscribes to Address and Authorization at istiod-lite, validates each
// resource before it is ACKed (a malformed one is NACKed alone), applies every update in one
// swap, then tells the caller what changed so live connections can be re-checked.
import type { Logger } from 'pino';
import { typeUrls } from '@ambient/api';
import { DeltaXdsClient } from '@ambient/api/grpc';
import type { ProxyState } from '@ambient/api/proxy-runtime';

export interface XdsWiringOptions {
  /** istiod-lite's discovery address: host:port or unix:<path>. */
  address: string;
  rootCertPem: string;
  servername?: string | undefined;
  token: () => string;
  nodeName: string;
  state: ProxyState;
  logger: Logger;
  /** After an update is applied: whether it touched policies, and the addresses it upserted or removed. */
  onApplied: (change: { policyChange: boolean; touched: ReadonlySet<string> }) => void;
  /** Once, when every subscribed type has been applied at least once (its initial response). */
  onSynced: () => void;
}

export function wireXds(opts: XdsWiringOptions): DeltaXdsClient {
  const { state, logger } = opts;
  const subscribed = [typeUrls.address, typeUrls.authorization];
  const xds = new DeltaXdsClient({
    address: opts.address,
    rootCertPem: opts.rootCertPem,
    ...(opts.servername ? { servername: opts.servername } : {}),
    token: opts.token,
    node: { id: `ztunnel~${opts.nodeName}~${process.pid}`, type: 'ztunnel', nodeName: opts.nodeName },
    subscriptions: subscribed.map((typeUrl) => ({ typeUrl })),
    validate: (typeUrl, name, payload) => state.validate(typeUrl, name, payload),
  });
  const applied = new Set<string>();
  xds.on('update', (u) => {
    const result = state.apply(u.typeUrl, { upserts: new Map([...u.resources].map(([n, e]) => [n, e.payload])), removals: u.removed });
    if (result.rejected.length > 0) logger.warn({ rejected: result.rejected }, 'discovery resources rejected');
    // Live connections depend on the policies and on their destination workload (which lists
    // its selector policies); an Address update about other workloads cannot change a decision.
    opts.onApplied({ policyChange: u.typeUrl === typeUrls.authorization, touched: new Set([...u.resources.keys(), ...u.removed]) });
    if (applied.size < subscribed.length && !applied.has(u.typeUrl)) {
      applied.add(u.typeUrl);
      if (applied.size === subscribed.length) opts.onSynced();
    }
  });
  xds.on('disconnected', (d) => logger.warn({ code: d.code, details: d.details }, 'discovery stream lost; reconnecting'));
  return xds;
}

// Discovery → ztunnel's state: Address and Authorization, through the shared state
// subscription (validate, ACK/NACK, one swap per update, synced once every type arrived).
import type { Logger } from 'pino';
import { typeUrls } from '@ambient/api';
import { type DeltaXdsClient, subscribeState } from '@ambient/api/grpc';
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
  return subscribeState({
    address: opts.address,
    rootCertPem: opts.rootCertPem,
    servername: opts.servername,
    token: opts.token,
    node: { id: `ztunnel~${opts.nodeName}~${process.pid}`, type: 'ztunnel', nodeName: opts.nodeName },
    typeUrls: [typeUrls.address, typeUrls.authorization],
    state: opts.state,
    logger: opts.logger,
    // Live connections depend on the policies and on their destination workload (which lists
    // its selector policies); an Address update about other workloads cannot change a decision.
    onApplied: ({ typeUrl, touched }) => opts.onApplied({ policyChange: typeUrl === typeUrls.authorization, touched }),
    onSynced: opts.onSynced,
  });
}

// A discovery subscriber for the istiod benchmark that does only what delivery needs: it opens a
// delta ADS stream as a `test` proxy, reads each response's resource names and versions, ACKs it,
// and decodes a payload only for the names it is told to watch. A hundred DeltaXdsClients in one
// process spend most of the run decoding 1.1 million payloads they never read (each real ztunnel
// decodes its own on its own node), which made the benchmark measure itself, not istiod-lite.
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import {
  AggregatedDiscoveryServiceClient,
  maxDiscoveryResponseBytes,
  unpackAny,
  type XdsAny,
  type XdsDeltaDiscoveryRequest,
  type XdsDeltaDiscoveryResponse,
} from '@ambient/api/grpc';

export interface LightSubscriberOptions {
  address: string;
  rootCertPem: string;
  token: string;
  node: { id: string; type: string; nodeName: string };
  typeUrl: string;
}

export class LightSubscriber extends EventEmitter<{ update: [] }> {
  /** Resource name → version, as the server last sent it. */
  readonly versions = new Map<string, string>();
  readonly #watched = new Map<string, XdsAny | undefined>();
  readonly #decoded = new WeakMap<XdsAny, object>();
  readonly #client: AggregatedDiscoveryServiceClient;
  readonly #call: grpc.ClientDuplexStream<XdsDeltaDiscoveryRequest, XdsDeltaDiscoveryResponse>;
  failure: Error | undefined;

  constructor(opts: LightSubscriberOptions) {
    super();
    this.#client = new AggregatedDiscoveryServiceClient(opts.address, grpc.credentials.createSsl(Buffer.from(opts.rootCertPem)), {
      'grpc.ssl_target_name_override': 'istiod.istio-system.svc',
      'grpc.default_authority': 'istiod.istio-system.svc',
      'grpc.max_receive_message_length': maxDiscoveryResponseBytes,
    });
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${opts.token}`);
    this.#call = this.#client.DeltaAggregatedResources(metadata);
    this.#call.on('data', (r: XdsDeltaDiscoveryResponse) => {
      for (const resource of r.resources ?? []) {
        this.versions.set(resource.name, resource.version);
        if (this.#watched.has(resource.name)) this.#watched.set(resource.name, resource.resource);
      }
      for (const name of r.removedResources ?? []) this.versions.delete(name);
      this.#call.write({ typeUrl: opts.typeUrl, responseNonce: r.nonce });
      this.emit('update');
    });
    this.#call.on('error', (err: Error) => {
      if ((err as grpc.ServiceError).code !== grpc.status.CANCELLED) this.failure = err;
    });
    this.#call.write({ typeUrl: opts.typeUrl, node: opts.node });
  }

  /** Keeps the payload of `name` from its next update on (decoded on demand by `payload`). */
  watch(name: string): void {
    if (!this.#watched.has(name)) this.#watched.set(name, undefined);
  }

  /** The decoded payload of a watched name, once an update for it arrived. */
  payload(name: string): object | undefined {
    const any = this.#watched.get(name);
    if (any === undefined) return undefined;
    let payload = this.#decoded.get(any);
    if (payload === undefined) this.#decoded.set(any, (payload = unpackAny(any)));
    return payload;
  }

  close(): void {
    this.#call.cancel();
    this.#client.close();
  }
}

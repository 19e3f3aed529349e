// A delta discovery client (xDS delta ADS semantics over the project's own protos): one
// bidirectional stream, automatic ACK/NACK, reconnect with backoff, and resume from the versions
// it already holds so a reconnect costs only what changed. Used by ztunnel, tests and benchmarks.
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { AggregatedDiscoveryServiceClient, unpackAny } from '../grpc-protos.ts';
import type { XdsDeltaDiscoveryRequest, XdsDeltaDiscoveryResponse, XdsNode } from '../grpc-protos.ts';
import { Backoff, type BackoffOptions } from '../backoff.ts';
import { realTimers, type Timers } from '../timers.ts';
import { discoveryClientKeepaliveOptions, discoveryKeepalive, type DiscoveryKeepalive } from './discovery-keepalive.ts';

export const DEFAULT_DISCOVERY_SERVERNAME = 'istiod.istio-system.svc';

export interface XdsSubscription {
  typeUrl: string;
  /** Resource names to subscribe to; omitted = wildcard (everything the proxy is entitled to). */
  names?: string[];
}

export interface XdsResourceEntry {
  version: string;
  payload: object;
}

export interface XdsUpdate {
  typeUrl: string;
  /** The resources added or changed by this response. */
  resources: Map<string, XdsResourceEntry>;
  /** Names removed by this response that the client held. */
  removed: string[];
}

export interface XdsDisconnect {
  code: number;
  details: string;
}

export interface DeltaXdsClientOptions {
  /** host:port of the discovery server. */
  address: string;
  rootCertPem: string;
  /** Read before every (re)connect, so a rotated token file is picked up. */
  token: () => string | Promise<string>;
  node: XdsNode;
  /** The name the server certificate must carry (default istiod.istio-system.svc). */
  servername?: string;
  subscriptions: XdsSubscription[];
  /** Throws to reject a resource: the whole response is NACKed and the old config kept. */
  validate?: (typeUrl: string, name: string, payload: object) => void;
  backoff?: BackoffOptions;
  timers?: Timers;
  /** PING the server after this much silence and give up after that long (default 30 s, 10 s). */
  keepalive?: Partial<DiscoveryKeepalive>;
  /** Applied last: they override everything above, keepalive included. */
  channelOptions?: grpc.ChannelOptions;
}

export interface DeltaXdsClientEvents {
  update: [XdsUpdate];
  connected: [];
  disconnected: [XdsDisconnect];
  nack: [{ typeUrl: string; nonce: string; message: string }];
}

const INVALID_ARGUMENT = grpc.status.INVALID_ARGUMENT;
/** The largest discovery response a client accepts: a full sync of a large mesh is one response, past grpc's 4 MiB default. */
export const maxDiscoveryResponseBytes = 256 * 1024 * 1024;

export class DeltaXdsClient extends EventEmitter<DeltaXdsClientEvents> {
  readonly #opts: DeltaXdsClientOptions;
  readonly #timers: Timers;
  readonly #backoff: Backoff;
  readonly #state = new Map<string, Map<string, XdsResourceEntry>>();
  /** Per type: the subscribed names, or undefined for a wildcard subscription. */
  readonly #subscriptions = new Map<string, Set<string> | undefined>();
  #client: AggregatedDiscoveryServiceClient | undefined;
  #call: grpc.ClientDuplexStream<XdsDeltaDiscoveryRequest, XdsDeltaDiscoveryResponse> | undefined;
  #reconnectTimer: unknown;
  #connected = false;
  #closed = false;
  #nodeSent = false;
  #started = false;

  constructor(opts: DeltaXdsClientOptions) {
    super();
    if (opts.subscriptions.length === 0) throw new TypeError('delta xds client needs at least one subscription');
    this.#opts = opts;
    this.#timers = opts.timers ?? realTimers;
    this.#backoff = new Backoff(opts.backoff);
    for (const sub of opts.subscriptions) {
      this.#state.set(sub.typeUrl, new Map());
      this.#subscriptions.set(sub.typeUrl, sub.names === undefined ? undefined : new Set(sub.names));
    }
  }

  /** The resources currently held for a type (what was last ACKed). */
  resources(typeUrl: string): ReadonlyMap<string, XdsResourceEntry> {
    return this.#state.get(typeUrl) ?? new Map();
  }

  get connected(): boolean {
    return this.#connected;
  }

  start(): void {
    if (this.#started) throw new Error('delta xds client already started');
    this.#started = true;
    const servername = this.#opts.servername ?? DEFAULT_DISCOVERY_SERVERNAME;
    this.#client = new AggregatedDiscoveryServiceClient(this.#opts.address, grpc.credentials.createSsl(Buffer.from(this.#opts.rootCertPem)), {
      'grpc.ssl_target_name_override': servername,
      'grpc.default_authority': servername,
      'grpc.max_receive_message_length': maxDiscoveryResponseBytes,
      // Without it a silently dropped connection is never noticed: the stream just stays quiet.
      ...discoveryClientKeepaliveOptions({ ...discoveryKeepalive, ...this.#opts.keepalive }),
      ...this.#opts.channelOptions,
    });
    void this.#connect();
  }

  /** Adds names to a named subscription (a wildcard one already covers them). */
  subscribe(typeUrl: string, names: string[]): void {
    const subscribed = this.#subscribedNames(typeUrl);
    if (subscribed === undefined) return;
    const added = names.filter((name) => !subscribed.has(name));
    for (const name of added) subscribed.add(name);
    if (added.length > 0) this.#write({ typeUrl, resourceNamesSubscribe: added });
  }

  /** Drops names from a named subscription; what was held for them is forgotten at once. */
  unsubscribe(typeUrl: string, names: string[]): void {
    const subscribed = this.#subscribedNames(typeUrl);
    if (subscribed === undefined) return;
    const dropped = names.filter((name) => subscribed.delete(name));
    if (dropped.length === 0) return;
    this.#write({ typeUrl, resourceNamesUnsubscribe: dropped });
    const held = this.#state.get(typeUrl)!;
    const removed = dropped.filter((name) => held.delete(name));
    if (removed.length > 0) this.emit('update', { typeUrl, resources: new Map(), removed });
  }

  #subscribedNames(typeUrl: string): Set<string> | undefined {
    if (!this.#subscriptions.has(typeUrl)) throw new Error(`type url ${JSON.stringify(typeUrl)} is not among this client's subscriptions`);
    return this.#subscriptions.get(typeUrl);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#reconnectTimer !== undefined) this.#timers.clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    this.#call?.cancel();
    this.#call = undefined;
    this.#client?.close();
  }

  async #connect(): Promise<void> {
    this.#reconnectTimer = undefined;
    if (this.#closed || this.#client === undefined) return;
    let token: string;
    try {
      token = await this.#opts.token();
    } catch (err) {
      this.#onStreamEnd({ code: grpc.status.UNAUTHENTICATED, details: `cannot read token: ${(err as Error).message}` });
      return;
    }
    if (this.#closed) return;
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    const call = this.#client.DeltaAggregatedResources(metadata);
    this.#call = call;
    let ended = false;
    const end = (status: XdsDisconnect): void => {
      if (ended) return;
      ended = true;
      if (this.#call === call) this.#call = undefined;
      this.#onStreamEnd(status);
    };
    call.on('data', (response: XdsDeltaDiscoveryResponse) => this.#onResponse(call, response));
    call.on('error', (err: grpc.ServiceError) => end({ code: err.code ?? grpc.status.UNKNOWN, details: err.details ?? err.message }));
    call.on('status', (status: grpc.StatusObject) => end({ code: status.code, details: status.details }));
    call.on('end', () => end({ code: grpc.status.UNAVAILABLE, details: 'stream ended by server' }));

    this.#nodeSent = false;
    for (const [typeUrl, names] of this.#subscriptions) {
      // An empty first subscribe means wildcard to the server: a named subscription with no
      // names yet waits for its first subscribe() instead.
      if (names !== undefined && names.size === 0) continue;
      const held = this.#state.get(typeUrl)!;
      this.#write({
        typeUrl,
        resourceNamesSubscribe: names === undefined ? ['*'] : [...names],
        initialResourceVersions: Object.fromEntries([...held].map(([name, entry]) => [name, entry.version])),
      });
    }
  }

  /** Writes on the current stream; the stream's first request carries the node. */
  #write(request: XdsDeltaDiscoveryRequest): void {
    if (this.#call === undefined) return;
    if (!this.#nodeSent) request.node = this.#opts.node;
    this.#nodeSent = true;
    this.#call.write(request);
  }

  #onResponse(call: grpc.ClientDuplexStream<XdsDeltaDiscoveryRequest, XdsDeltaDiscoveryResponse>, response: XdsDeltaDiscoveryResponse): void {
    if (this.#call !== call) return;
    if (!this.#connected) {
      // The server answers every initial subscription, so the first response proves the stream.
      this.#connected = true;
      this.#backoff.reset();
      this.emit('connected');
    }
    const typeUrl = response.typeUrl ?? '';
    const nonce = response.nonce ?? '';
    const held = this.#state.get(typeUrl);
    if (held === undefined) {
      this.#nack(call, typeUrl, nonce, `unexpected type url ${JSON.stringify(typeUrl)}: not subscribed`);
      return;
    }
    // Decode and validate the whole response before applying any of it, like Envoy: a bad
    // resource rejects the response and the proxy keeps its previous config.
    const resources = new Map<string, XdsResourceEntry>();
    for (const resource of response.resources ?? []) {
      try {
        if (resource.resource === undefined || resource.resource === null) throw new Error('no payload');
        if (resource.resource.typeUrl !== typeUrl) throw new Error(`payload type ${resource.resource.typeUrl} is not ${typeUrl}`);
        const payload = unpackAny(resource.resource);
        this.#opts.validate?.(typeUrl, resource.name, payload);
        resources.set(resource.name, { version: resource.version, payload });
      } catch (err) {
        this.#nack(call, typeUrl, nonce, `resource ${JSON.stringify(resource.name)} rejected: ${(err as Error).message}`);
        return;
      }
    }
    const removed: string[] = [];
    for (const name of response.removedResources ?? []) {
      if (held.delete(name)) removed.push(name);
    }
    for (const [name, entry] of resources) held.set(name, entry);
    call.write({ typeUrl, responseNonce: nonce });
    this.emit('update', { typeUrl, resources, removed });
  }

  #nack(call: grpc.ClientDuplexStream<XdsDeltaDiscoveryRequest, XdsDeltaDiscoveryResponse>, typeUrl: string, nonce: string, message: string): void {
    call.write({ typeUrl, responseNonce: nonce, errorDetail: { code: INVALID_ARGUMENT, message } });
    this.emit('nack', { typeUrl, nonce, message });
  }

  #onStreamEnd(status: XdsDisconnect): void {
    this.#connected = false;
    if (this.#closed) return;
    this.emit('disconnected', status);
    const delay = this.#backoff.next();
    this.#reconnectTimer = this.#timers.setTimeout(() => void this.#connect(), delay);
  }
}

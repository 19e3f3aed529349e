// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does: the
// holder renews spec.renewTime; a candidate takes over when the record it observed has not
// changed for leaseDurationSeconds *by its own clock* (so clock skew between replicas cannot
// cut a lease short); every write carries the resourceVersion it read, so two candidates racing
// for an expired lease cannot both win.
import { EventEmitter } from 'node:events';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { apiErrorMessage, isConflict, isNotFound } from '@ambient/api/kube';
import { RawClient } from '../kube/raw-client.ts';
import { collectionPath, objectPath } from '../kube/resource-path.ts';

export interface LeaderElectorOptions {
  /** Namespace of the Lease (the mesh's root namespace). */
  namespace: string;
  name?: string; // default 'istiod-lite-leader'
  identity: string; // unique per replica, e.g. the pod name
  leaseDurationSeconds?: number; // default 15
  renewIntervalMs?: number; // default 5000: renew (leader) / retry (candidate) period
  logger: Logger;
  /** Injectable for tests: wall clock in ms. */
  now?: () => number;
}

interface LeaseObject {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
}

export interface LeaderElectorEvents {
  leading: [];
  'stopped-leading': [];
}

export class LeaderElector extends EventEmitter<LeaderElectorEvents> {
  readonly identity: string;
  readonly #client: RawClient;
  readonly #ref: { apiVersion: string; kind: string; namespace: string; name: string };
  readonly #leaseMs: number;
  readonly #leaseSeconds: number;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #logger: Logger;
  #leading = false;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #tick: Promise<void> = Promise.resolve();
  /** The record last seen and when (local clock) it last changed. */
  #observed: { key: string; at: number } | undefined;
  /** When we last renewed successfully (local clock). */
  #renewedAt = 0;

  constructor(kc: KubeConfig, opts: LeaderElectorOptions) {
    super();
    this.identity = opts.identity;
    this.#client = RawClient.create(kc);
    this.#ref = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: opts.namespace, name: opts.name ?? 'istiod-lite-leader' };
    this.#leaseSeconds = opts.leaseDurationSeconds ?? 15;
    this.#leaseMs = this.#leaseSeconds * 1000;
    this.#intervalMs = opts.renewIntervalMs ?? 5_000;
    this.#now = opts.now ?? Date.now;
    this.#logger = opts.logger.child({ component: 'leader-elector', lease: `${opts.namespace}/${this.#ref.name}`, identity: opts.identity });
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  /** Starts trying to acquire (then renew) the lease; resolves after the first attempt. */
  start(): Promise<void> {
    if (this.#running) return this.#tick;
    this.#running = true;
    return this.#schedule(0);
  }

  /** Stops renewing. With release (default), a held lease is handed back so another replica takes over at once. */
  async stop(opts: { release?: boolean } = {}): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    await this.#tick;
    if (this.#leading && (opts.release ?? true)) {
      try {
        const lease = await this.#client.get<LeaseObject>(objectPath(this.#ref));
        if (lease.spec?.holderIdentity === this.identity) {
          await this.#client.put(objectPath(this.#ref), { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 } });
        }
      } catch (err) {
        this.#logger.warn({ err: apiErrorMessage(err) }, 'could not release the lease');
      }
    }
    this.#setLeading(false);
  }

  /** One acquire-or-renew attempt; exposed for tests driving time by hand. */
  tryAcquireOrRenew(): Promise<void> {
    this.#tick = this.#tick.then(() => this.#attempt());
    return this.#tick;
  }

  #schedule(delayMs: number): Promise<void> {
    return new Promise((resolve) => {
      this.#timer = setTimeout(() => {
        void this.tryAcquireOrRenew().finally(() => {
          resolve();
          if (this.#running) void this.#schedule(this.#intervalMs);
        });
      }, delayMs);
    });
  }

  async #attempt(): Promise<void> {
    const now = this.#now();
    try {
      await this.#acquireOrRenew(now);
    } catch (err) {
      // A failed write (API down, lost race) only costs leadership once the lease we hold could
      // have expired in the eyes of the others.
      this.#logger.debug({ err: apiErrorMessage(err) }, 'lease attempt failed');
      if (this.#leading && now - this.#renewedAt >= this.#leaseMs) this.#setLeading(false);
    }
  }

  async #acquireOrRenew(now: number): Promise<void> {
    const path = objectPath(this.#ref);
    let lease: LeaseObject | undefined;
    try {
      lease = await this.#client.get<LeaseObject>(path);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const stamp = microTime(now);
    if (!lease) {
      try {
        await this.#client.post(collectionPath(this.#ref), {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.#ref.name, namespace: this.#ref.namespace },
          spec: { holderIdentity: this.identity, leaseDurationSeconds: this.#leaseSeconds, acquireTime: stamp, renewTime: stamp, leaseTransitions: 0 },
        });
      } catch (err) {
        if (isConflict(err)) return; // another replica created it first; observe it next time
        throw err;
      }
      return this.#won(now);
    }

    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const key = `${holder}|${spec.renewTime ?? ''}|${lease.metadata.resourceVersion ?? ''}`;
    if (this.#observed?.key !== key) this.#observed = { key, at: now };
    const durationMs = (spec.leaseDurationSeconds ?? this.#leaseSeconds) * 1000;
    const mine = holder === this.identity;
    const expired = holder === '' || now - this.#observed.at >= durationMs;
    if (!mine && !expired) {
      if (this.#leading) this.#setLeading(false); // someone else holds it now
      return;
    }
    const next: LeaseObject = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: this.identity,
        leaseDurationSeconds: this.#leaseSeconds,
        renewTime: stamp,
        ...(mine ? {} : { acquireTime: stamp, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
      },
    };
    try {
      await this.#client.put(path, next); // carries metadata.resourceVersion: 409 if it changed
    } catch (err) {
      if (isConflict(err)) {
        this.#logger.debug('lease changed under us; will re-read');
        if (this.#leading && now - this.#renewedAt >= this.#leaseMs) this.#setLeading(false);
        return;
      }
      throw err;
    }
    this.#won(now);
  }

  #won(now: number): void {
    this.#renewedAt = now;
    this.#setLeading(true);
  }

  #setLeading(leading: boolean): void {
    if (this.#leading === leading) return;
    this.#leading = leading;
    this.#logger.info({ leading }, leading ? 'became leader' : 'stopped leading');
    this.emit(leading ? 'leading' : 'stopped-leading');
  }
}

/** Kubernetes MicroTime: RFC 3339 with exactly six fractional digits. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

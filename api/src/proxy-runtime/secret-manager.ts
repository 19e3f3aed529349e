// Certificates per workload identity (Istio ztunnel's SecretManager): requested from the mesh
// CA on first need, cached, refreshed at half-life with jitter, retried with backoff. A refresh
// swaps in a new WorkloadCertificate (with its own SecureContext); connections already made
// with the old one keep their TLS session, new ones pick up the new context.
//
// ztunnel counts the users of an identity (acquire/release: one per captured pod) because pods
// of one ServiceAccount share it: the certificate is refreshed until the last of them leaves.
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import tls from 'node:tls';
import { createCsr } from '../pki.ts';
import { parseSpiffeId } from '../spiffe-id.ts';
import { Backoff } from '../backoff.ts';
import { unrefTimers, type Timers } from '../timers.ts';
import type { Logger } from 'pino';
import type { CaClient } from './grpc-ca-client.ts';
import { IdentityError } from './identity-error.ts';
import { refreshAt } from './refresh-at.ts';
import { splitPemCertificates, uriSans, verifyIssuedChain } from './verify-issued-chain.ts';

export interface WorkloadCertificate {
  identity: string;
  /** Leaf first, then intermediates (no root). */
  certChainPem: string[];
  keyPem: string;
  rootCertPem: string;
  notBefore: Date;
  notAfter: Date;
  serial: string;
  /** One per issued certificate: reuse it for every connection (a context per connection costs ~1 ms). */
  secureContext: tls.SecureContext;
}

export type CertificateState = 'initializing' | 'available' | 'unavailable';

export interface CertificateInfo {
  identity: string;
  state: CertificateState;
  /** Of the certificate in use, when there is one. */
  notBefore?: string;
  notAfter?: string;
  serial?: string;
  chain: Array<{ subject: string; uris: string[]; serial: string; notBefore: string; notAfter: string }>;
  nextRefresh?: string;
  lastError?: string;
}

export interface SecretManagerEvents {
  /** A new certificate is in use for `identity` (first issue or rotation). */
  certificate: [{ identity: string; serial: string; rotated: boolean }];
  /** An attempt failed; the next one runs in `retryInMs`. */
  'refresh-failed': [{ identity: string; error: Error; retryInMs: number }];
}

export interface SecretManagerOptions {
  ca: CaClient;
  rootCertPem: string;
  /**
   * true (ztunnel): certificates are asked for on behalf of the identities (the node's pods),
   * which the CA allows only to ztunnel for pods on its node. false (the waypoint): the caller
   * asks for its own ServiceAccount's identity, with no impersonation.
   */
  impersonate?: boolean;
  ttlSeconds?: number;
  timers?: Timers;
  now?: () => number;
  random?: () => number;
  logger: Logger;
  backoff?: { initialMs?: number; factor?: number; maxMs?: number };
}

interface Entry {
  identity: string;
  state: CertificateState;
  cert?: WorkloadCertificate;
  /** Settles with the first attempt: what concurrent first callers share. */
  first: Promise<WorkloadCertificate>;
  settleFirst?: { resolve: (c: WorkloadCertificate) => void; reject: (e: Error) => void };
  inflight: boolean;
  backoff: Backoff;
  refreshTimer?: unknown;
  expiryTimer?: unknown;
  nextRefresh?: number;
  lastError?: Error;
  /** acquire() calls not yet released. */
  users: number;
  /** Created by fetch() without acquire (the waypoint's own identity): kept until close(). */
  pinned: boolean;
}

// Node fires a setTimeout longer than this at once; 90-day certificates refresh after 45 days.
const MAX_TIMER_MS = 2 ** 31 - 1;

export class SecretManager extends EventEmitter<SecretManagerEvents> {
  readonly #ca: CaClient;
  readonly #rootCertPem: string;
  readonly #impersonate: boolean;
  readonly #roots: string[];
  readonly #ttlSeconds: number;
  readonly #timers: Timers;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #log: Logger;
  readonly #backoff: { initialMs: number; multiplier: number; maxMs: number };
  readonly #entries = new Map<string, Entry>();
  #closed = false;

  constructor(opts: SecretManagerOptions) {
    super();
    this.#ca = opts.ca;
    this.#rootCertPem = opts.rootCertPem;
    this.#impersonate = opts.impersonate ?? true;
    this.#roots = splitPemCertificates(opts.rootCertPem);
    if (this.#roots.length === 0)
      throw new IdentityError('ERR_CERT_INVALID', `root certificate is not a pem certificate: ${JSON.stringify(opts.rootCertPem.slice(0, 40))}`);
    this.#ttlSeconds = opts.ttlSeconds ?? 24 * 60 * 60;
    if (!(Number.isInteger(this.#ttlSeconds) && this.#ttlSeconds > 0)) throw new RangeError(`ttlSeconds must be a positive integer, got ${opts.ttlSeconds}`);
    this.#timers = opts.timers ?? unrefTimers;
    this.#now = opts.now ?? Date.now;
    this.#random = opts.random ?? Math.random;
    this.#log = opts.logger.child({ component: 'secret-manager' });
    this.#backoff = { initialMs: opts.backoff?.initialMs ?? 1000, multiplier: opts.backoff?.factor ?? 1.6, maxMs: opts.backoff?.maxMs ?? 30_000 };
  }

  /** The TLS material for an identity: fetched on first call (concurrent callers share one request), cached. */
  fetch(identity: string): Promise<WorkloadCertificate> {
    if (this.#closed) return Promise.reject(new IdentityError('ERR_CERT_UNAVAILABLE', `no certificate for ${identity}: the secret manager is closed`));
    if (parseSpiffeId(identity) === undefined) {
      return Promise.reject(new IdentityError('ERR_IDENTITY_INVALID', `not a workload spiffe id: ${JSON.stringify(identity)}`));
    }
    let entry = this.#entries.get(identity);
    if (entry === undefined) {
      entry = this.#open(identity);
      entry.pinned = true;
      return entry.first;
    }
    if (entry.state === 'initializing') return entry.first;
    // The expiry timer normally flips the state; checking the clock too means a late timer can
    // never let an expired certificate out.
    if (entry.cert !== undefined && this.#validNow(entry.cert)) return Promise.resolve(entry.cert);
    this.#markUnavailable(entry);
    const why = entry.lastError ? `: ${entry.lastError.message}` : '';
    return Promise.reject(new IdentityError('ERR_CERT_UNAVAILABLE', `no valid certificate for ${identity}${why}`, { cause: entry.lastError }));
  }

  /**
   * The certificate to present on a connection made now: the one in use while it is valid on the
   * injected clock, else undefined (not issued yet, expired without a refresh, released, or never
   * asked for: current() asks the CA nothing). Synchronous and cheap, for every handshake: the
   * caller refuses the connection rather than present an expired certificate.
   */
  current(identity: string): WorkloadCertificate | undefined {
    const cert = this.#entries.get(identity)?.cert;
    return cert !== undefined && this.#validNow(cert) ? cert : undefined;
  }

  /**
   * Counts one user of `identity` (ztunnel: a captured pod) and starts its first request when it
   * is new; read the certificate with fetch(). It is refreshed until every acquire is released.
   * Throws ERR_IDENTITY_INVALID, counting nothing, for an identity that is not a workload SPIFFE
   * ID; after close() it counts nothing either.
   */
  acquire(identity: string): void {
    if (parseSpiffeId(identity) === undefined) throw new IdentityError('ERR_IDENTITY_INVALID', `not a workload spiffe id: ${JSON.stringify(identity)}`);
    if (this.#closed) return;
    const entry = this.#entries.get(identity) ?? this.#open(identity);
    entry.users++;
  }

  /**
   * Drops one user of `identity`. With the last one gone the certificate and its refresh go too
   * (unless fetch() alone created it). Releasing an identity nobody holds does nothing.
   */
  release(identity: string): void {
    const entry = this.#entries.get(identity);
    if (entry === undefined || entry.users === 0) return;
    entry.users--;
    if (entry.users > 0 || entry.pinned) return;
    this.#entries.delete(identity);
    this.#dispose(entry, `no certificate for ${identity}: its last user released it`);
    this.#log.info({ identity }, 'certificate released: no user left');
  }

  list(): CertificateInfo[] {
    return [...this.#entries.values()].map((e) => this.#info(e)).sort((a, b) => a.identity.localeCompare(b.identity));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const entry of this.#entries.values()) this.#dispose(entry, `no certificate for ${entry.identity}: the secret manager is closed`);
    this.#entries.clear();
  }

  // ---- internals ---------------------------------------------------------------------------

  /** A new entry for `identity`, its first request started. */
  #open(identity: string): Entry {
    let settleFirst!: Entry['settleFirst'];
    const first = new Promise<WorkloadCertificate>((resolve, reject) => {
      settleFirst = { resolve, reject };
    });
    first.catch(() => {}); // a caller may never ask again; its rejection is reported to the callers who did
    const entry: Entry = {
      identity,
      state: 'initializing',
      first,
      settleFirst,
      inflight: false,
      backoff: new Backoff({ ...this.#backoff, random: this.#random }),
      users: 0,
      pinned: false,
    };
    this.#entries.set(identity, entry);
    void this.#attempt(entry);
    return entry;
  }

  #validNow(cert: WorkloadCertificate): boolean {
    const now = this.#now();
    return cert.notBefore.getTime() <= now && now < cert.notAfter.getTime();
  }

  #isCurrent(entry: Entry): boolean {
    return !this.#closed && this.#entries.get(entry.identity) === entry;
  }

  async #attempt(entry: Entry): Promise<void> {
    if (entry.inflight || !this.#isCurrent(entry)) return;
    entry.inflight = true;
    this.#clear(entry, 'refreshTimer');
    entry.nextRefresh = undefined;
    try {
      const cert = await this.#issue(entry.identity);
      if (!this.#isCurrent(entry)) return;
      this.#install(entry, cert);
    } catch (err) {
      if (!this.#isCurrent(entry)) return;
      this.#failed(entry, err as Error);
    } finally {
      entry.inflight = false;
    }
  }

  async #issue(identity: string): Promise<WorkloadCertificate> {
    // A fresh key per certificate: a rotation also rotates the key.
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const csrPem = createCsr({ keyPem, uris: [identity] });
    const chainPem = await this.#ca.createCertificate(csrPem, this.#ttlSeconds, this.#impersonate ? identity : '');
    const issued = verifyIssuedChain({ identity, chainPem, rootsPem: this.#roots, privateKey, now: this.#now() });
    const secureContext = tls.createSecureContext({
      key: keyPem,
      cert: issued.certChainPem.join(''),
      ca: this.#rootCertPem,
      minVersion: 'TLSv1.3',
    });
    return {
      identity,
      certChainPem: issued.certChainPem,
      keyPem,
      rootCertPem: this.#rootCertPem,
      notBefore: issued.notBefore,
      notAfter: issued.notAfter,
      serial: issued.leaf.serialNumber,
      secureContext,
    };
  }

  #install(entry: Entry, cert: WorkloadCertificate): void {
    const rotated = entry.cert !== undefined;
    entry.cert = cert;
    entry.state = 'available';
    entry.lastError = undefined;
    entry.backoff.reset();
    const receivedAt = this.#now();
    const at = refreshAt({ receivedAt, notAfter: cert.notAfter.getTime(), random: this.#random });
    this.#scheduleRefresh(entry, at - receivedAt);
    this.#clear(entry, 'expiryTimer');
    this.#at(entry, 'expiryTimer', cert.notAfter.getTime(), () => this.#markUnavailable(entry));
    entry.settleFirst?.resolve(cert);
    entry.settleFirst = undefined;
    this.#log.info(
      { identity: entry.identity, serial: cert.serial, notAfter: cert.notAfter.toISOString(), nextRefresh: new Date(at).toISOString(), rotated },
      rotated ? 'certificate rotated' : 'certificate issued',
    );
    this.emit('certificate', { identity: entry.identity, serial: cert.serial, rotated });
  }

  #failed(entry: Entry, error: Error): void {
    entry.lastError = error;
    // The old certificate stays in use until it expires; without one the identity is unusable now.
    if (entry.cert === undefined || this.#now() >= entry.cert.notAfter.getTime()) this.#markUnavailable(entry);
    const retryInMs = entry.backoff.next();
    this.#scheduleRefresh(entry, retryInMs);
    this.#log.warn({ identity: entry.identity, err: error, code: (error as IdentityError).code, retryInMs, state: entry.state }, 'certificate request failed');
    this.emit('refresh-failed', { identity: entry.identity, error, retryInMs });
  }

  #markUnavailable(entry: Entry): void {
    if (entry.cert !== undefined && this.#now() < entry.cert.notAfter.getTime()) return; // still usable
    if (entry.state !== 'unavailable' && entry.cert !== undefined)
      this.#log.error({ identity: entry.identity, serial: entry.cert.serial }, 'certificate expired without a successful refresh');
    entry.state = 'unavailable';
    const why = entry.lastError ? `: ${entry.lastError.message}` : '';
    entry.settleFirst?.reject(new IdentityError('ERR_CERT_UNAVAILABLE', `no certificate for ${entry.identity}${why}`, { cause: entry.lastError }));
    entry.settleFirst = undefined;
  }

  #scheduleRefresh(entry: Entry, delayMs: number): void {
    this.#clear(entry, 'refreshTimer');
    const at = this.#now() + Math.max(0, delayMs);
    entry.nextRefresh = at;
    this.#at(entry, 'refreshTimer', at, () => void this.#attempt(entry));
  }

  /** Runs `fn` at epoch ms `at` on the injected clock, in steps Node's timers can represent. */
  #at(entry: Entry, slot: 'refreshTimer' | 'expiryTimer', at: number, fn: () => void): void {
    const delay = at - this.#now();
    if (delay <= MAX_TIMER_MS) {
      entry[slot] = this.#timers.setTimeout(
        () => {
          entry[slot] = undefined;
          fn();
        },
        Math.max(0, delay),
      );
    } else {
      entry[slot] = this.#timers.setTimeout(() => this.#at(entry, slot, at, fn), MAX_TIMER_MS);
    }
  }

  #clear(entry: Entry, slot: 'refreshTimer' | 'expiryTimer'): void {
    if (entry[slot] !== undefined) this.#timers.clearTimeout(entry[slot]);
    entry[slot] = undefined;
  }

  #dispose(entry: Entry, message: string): void {
    this.#clear(entry, 'refreshTimer');
    this.#clear(entry, 'expiryTimer');
    entry.settleFirst?.reject(new IdentityError('ERR_CERT_UNAVAILABLE', message));
    entry.settleFirst = undefined;
  }

  #info(entry: Entry): CertificateInfo {
    const info: CertificateInfo = { identity: entry.identity, state: entry.state, chain: [] };
    if (entry.cert !== undefined) {
      info.notBefore = entry.cert.notBefore.toISOString();
      info.notAfter = entry.cert.notAfter.toISOString();
      info.serial = entry.cert.serial;
      info.chain = [...entry.cert.certChainPem, ...splitPemCertificates(entry.cert.rootCertPem)].map((pem) => {
        const c = new crypto.X509Certificate(pem);
        return {
          subject: c.subject ?? '',
          uris: uriSans(c),
          serial: c.serialNumber,
          notBefore: new Date(c.validFrom).toISOString(),
          notAfter: new Date(c.validTo).toISOString(),
        };
      });
    }
    if (entry.nextRefresh !== undefined) info.nextRefresh = new Date(entry.nextRefresh).toISOString();
    if (entry.lastError !== undefined) info.lastError = entry.lastError.message;
    return info;
  }
}

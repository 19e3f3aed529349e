// Capture follows enrollment: a pod the node agent reports on this node is captured (listeners
// in its netns, then rules) once istiod-lite says its workload is HBONE, and released (rules
// first, then listeners) when it no longer is. Nothing is captured before discovery has
// delivered every type once (addresses and policies). Runs serialized; a failed capture
// retries in 1 s.
//
// Each pod being captured holds its identity in the secret manager (acquire, once per pod,
// from the first attempt until the pod is released): pods of one ServiceAccount share the
// certificate, which stays refreshed while any of them is captured.
import type { Logger } from 'pino';
import { unrefTimers, type PodInfo, type Timers } from '@ambient/api';
import type { SecretManager } from '@ambient/api/proxy-runtime';
import type { ZtunnelMetrics } from '../metrics.ts';
import { PodProxy, type PodProxyDeps } from '../proxy/pod-proxy.ts';
import type { ProxyState } from '@ambient/api/proxy-runtime';
import { installCaptureRules, removeCaptureRules } from './capture-rules.ts';

export type CaptureDeps = PodProxyDeps & { secrets: SecretManager; state: ProxyState; metrics: ZtunnelMetrics; logger: Logger };

const RETRY_MS = 1_000;

export class CaptureReconciler {
  readonly #deps: CaptureDeps;
  readonly #timers: Timers;
  readonly #pods = new Map<string, PodInfo>();
  readonly #proxies = new Map<string, PodProxy>();
  /** Pod uid → the identity acquired for it: one acquire per pod, whatever the attempts. */
  readonly #held = new Map<string, string>();
  #running: Promise<void> = Promise.resolve();
  #retryTimer: unknown;
  #stopped = false;
  // A pod captured before the policies arrive would accept, for a moment, what they deny.
  #discoverySynced = false;

  constructor(deps: CaptureDeps, timers: Timers = unrefTimers) {
    this.#deps = deps;
    this.#timers = timers;
  }

  get proxies(): ReadonlyMap<string, PodProxy> {
    return this.#proxies;
  }

  podAdded(pod: PodInfo): void {
    this.#pods.set(pod.uid, pod);
    this.reconcile();
  }

  podRemoved(pod: PodInfo): void {
    this.#pods.delete(pod.uid);
    this.reconcile();
  }

  /** Closes live connections a discovery change no longer allows, then reconciles capture. */
  discoveryChanged(change: { policyChange: boolean; touched: ReadonlySet<string> }): void {
    for (const p of this.#proxies.values()) {
      if (change.policyChange || change.touched.has(p.pod.uid)) p.recheck(this.#deps.state);
    }
    this.reconcile();
  }

  /** Discovery has delivered every subscribed type once: from now on, pods may be captured. */
  discoverySynced(): void {
    this.#discoverySynced = true;
    this.reconcile();
  }

  /** Resolves when the passes queued so far have run. */
  idle(): Promise<void> {
    return this.#running;
  }

  reconcile(): void {
    this.#running = this.#running.then(() => this.#pass()).catch((err: unknown) => this.#deps.logger.error({ err }, 'reconciling captured pods failed'));
  }

  /** Stops reconciling and drains every captured pod's connections for up to `drainMs`. */
  async stop(drainMs: number): Promise<void> {
    this.#stopped = true;
    this.#timers.clearTimeout(this.#retryTimer);
    await this.#running;
    await Promise.all([...this.#proxies.values()].map((p) => p.drain(drainMs)));
  }

  async #pass(): Promise<void> {
    if (this.#stopped) return;
    const { secrets, logger, metrics } = this.#deps;
    let failed = false;
    for (const [uid, proxy] of [...this.#proxies]) {
      if (this.#wantedIdentity(uid) !== undefined) continue;
      this.#proxies.delete(uid);
      const pod = this.#pods.get(uid);
      // Un-enrolled: rules first, so no connection is redirected to a closed listener.
      if (pod) await removeCaptureRules(pod.netnsPath).catch((err: unknown) => logger.warn({ err, pod: uid }, 'removing capture rules failed'));
      await proxy.stop();
      logger.info({ pod: uid }, 'pod no longer captured');
    }
    // After the proxies above stopped (a handshake they accepted still found its certificate);
    // also pods that left while their capture was still failing.
    for (const [uid, identity] of [...this.#held]) {
      if (this.#proxies.has(uid) || this.#wantedIdentity(uid) === identity) continue;
      this.#held.delete(uid);
      secrets.release(identity);
    }
    for (const [uid, pod] of this.#pods) {
      if (!this.#discoverySynced) break;
      if (this.#proxies.has(uid)) continue;
      const identity = this.#wantedIdentity(uid);
      if (identity === undefined) continue;
      try {
        // Held across failed attempts: they wait on the secret manager's back-off rather than
        // asking the CA anew every retry.
        if (!this.#held.has(uid)) {
          secrets.acquire(identity);
          this.#held.set(uid, identity);
        }
        // Listeners first, then rules: redirected traffic always finds a listener.
        const proxy = await PodProxy.start({ uid, ip: pod.ip, netnsPath: pod.netnsPath, identity }, this.#deps);
        // Left open, the listeners would hold the pod's ports against every retry.
        await installCaptureRules(pod.netnsPath).catch(async (err: unknown) => {
          await proxy.stop();
          throw err;
        });
        this.#proxies.set(uid, proxy);
        logger.info({ pod: `${pod.namespace}/${pod.name}`, identity }, 'pod captured');
      } catch (err) {
        failed = true;
        logger.error({ err, pod: `${pod.namespace}/${pod.name}` }, 'capturing the pod failed; retrying in 1 s');
      }
    }
    metrics.capturedPods.set(this.#proxies.size);
    this.#timers.clearTimeout(this.#retryTimer);
    this.#retryTimer = failed && !this.#stopped ? this.#timers.setTimeout(() => this.reconcile(), RETRY_MS) : undefined;
  }

  /** The identity to capture a pod with: on this node and an HBONE workload that does not speak
   *  HBONE itself (a pod with a sidecar: nativeTunnel); else undefined. */
  #wantedIdentity(uid: string): string | undefined {
    if (!this.#pods.has(uid)) return undefined;
    const w = this.#deps.state.workloadByUid(uid);
    return w?.tunnelProtocol === 'HBONE' && w.nativeTunnel !== true ? w.identity : undefined;
  }
}

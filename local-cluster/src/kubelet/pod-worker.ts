// Runs one pod's containers as processes in the pod's netns and keeps them running according
// to restartPolicy, with crash-loop back-off. It only tracks state and reports changes; the
// kubelet turns that state into the pod's status. Spawning, probing and time are injected so
// the behaviour is testable with fake timers.
//
// Init containers run first, in order, as the real kubelet runs them: a regular one must exit 0
// before the next starts; a native sidecar (an init container with `restartPolicy: Always`) is
// started, and once its startupProbe passes (at once without one) the next container starts,
// and it keeps running beside the app containers. An injected mesh proxy is such a sidecar: the
// app starts only once the proxy has captured the pod's traffic. Stopping ends the app
// containers first, then the sidecars.
import type { ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import type { V1Container, V1Pod, V1Probe } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Clock } from '@ambient/api';
import { ContainerConfigError, renderContainerLaunch, type ContainerLaunch, type PodRuntimeFacts } from './container-env.ts';
import { type ContainerRuntimeState, exitedZero, type PodRuntimeState } from './pod-status.ts';
import { runProbe } from './probe.ts';
import { nextRestartDelay, shouldRestart } from './restart-backoff.ts';

/** One probe attempt inside the pod's netns: true when it passed. */
export type ProbeFn = (netns: string, probe: V1Probe, podIP: string) => Promise<boolean>;

export type SpawnFn = (netns: string, command: string[], opts: { env?: Record<string, string>; cwd?: string; logFile?: string }) => ChildProcess;

export interface PodWorkerOptions {
  pod: V1Pod;
  netns: string;
  facts: PodRuntimeFacts;
  /** `<container>.log` files are written here. */
  logDir: string;
  spawn: SpawnFn;
  clock: Clock;
  logger: Logger;
  onChange: () => void;
  /** Grace between SIGTERM and SIGKILL when stopping. */
  stopGraceMs?: number;
  /** Default: runProbe (probe.ts). */
  probe?: ProbeFn;
}

/** 'init' runs to completion before the next container; 'sidecar' is an init container with restartPolicy Always. */
type Role = 'main' | 'init' | 'sidecar';

interface Container {
  spec: V1Container;
  role: Role;
  launch?: ContainerLaunch;
  state: ContainerRuntimeState;
  child?: ChildProcess;
  startedAtMs: number;
  backoffMs?: number;
  restartTimer?: unknown;
  probeTimer?: unknown;
  probeFailures: number;
}

/** Kubernetes' startupProbe defaults. */
const probeDefaults = { initialDelaySeconds: 0, periodSeconds: 10, failureThreshold: 3 };

export class PodWorker {
  readonly #o: PodWorkerOptions;
  readonly #init: Container[];
  readonly #containers: Container[];
  readonly #startTime: string;
  /** Init containers done (completed, or sidecars started): the app containers run. */
  #initialized = false;
  #failure: PodRuntimeState['failure'];
  #stopping = false;

  constructor(o: PodWorkerOptions) {
    this.#o = o;
    this.#startTime = o.pod.status?.startTime ? new Date(o.pod.status.startTime).toISOString() : new Date(o.clock.now()).toISOString();
    const previous = new Map([...(o.pod.status?.initContainerStatuses ?? []), ...(o.pod.status?.containerStatuses ?? [])].map((s) => [s.name, s]));
    const container = (spec: V1Container, role: Role): Container => ({
      spec,
      role,
      startedAtMs: 0,
      probeFailures: 0,
      // Restart counts survive a kubelet restart, as they do across real kubelet restarts.
      state: {
        name: spec.name,
        image: spec.image ?? '',
        restartCount: previous.get(spec.name)?.restartCount ?? 0,
        final: false,
        started: false,
        state: { kind: 'waiting', reason: role === 'main' && (o.pod.spec?.initContainers ?? []).length > 0 ? 'PodInitializing' : 'ContainerCreating' },
      },
    });
    this.#init = (o.pod.spec?.initContainers ?? []).map((spec) => container(spec, spec.restartPolicy === 'Always' ? 'sidecar' : 'init'));
    this.#containers = (o.pod.spec?.containers ?? []).map((spec) => container(spec, 'main'));
  }

  get state(): PodRuntimeState {
    const s: PodRuntimeState = {
      podIP: this.#o.facts.podIP,
      hostIP: this.#o.facts.hostIP,
      startTime: this.#startTime,
      initialized: this.#initialized,
      initContainers: this.#init.map((c) => c.state),
      containers: this.#containers.map((c) => c.state),
    };
    if (this.#failure) s.failure = this.#failure;
    return s;
  }

  /** Renders every container's launch first: a pod with one bad container starts none. */
  start(): void {
    const all = [...this.#init, ...this.#containers];
    try {
      for (const c of all) c.launch = renderContainerLaunch(this.#o.pod, c.spec, this.#o.facts);
    } catch (err) {
      if (!(err instanceof ContainerConfigError)) throw err;
      this.#failure = { reason: err.reason, message: err.message };
      for (const c of all) c.state = { ...c.state, final: true, state: { kind: 'waiting', reason: err.reason, message: err.message } };
      this.#o.logger.warn({ reason: err.reason }, err.message);
      this.#o.onChange();
      return;
    }
    this.#advance();
  }

  /** Starts the first init container not done yet, or, when all are, the app containers. */
  #advance(): void {
    if (this.#stopping || this.#initialized || this.#failure) return;
    for (const c of this.#init) {
      if (c.role === 'init' && exitedZero(c.state)) continue;
      if (c.role === 'sidecar' && c.state.started) continue;
      // Not yet launched (a launched one is running, waiting out its back-off, or being probed).
      if (c.startedAtMs === 0 && c.child === undefined && c.restartTimer === undefined) this.#run(c);
      this.#o.onChange();
      if (!(c.role === 'sidecar' && c.state.started)) return;
    }
    this.#initialized = true;
    for (const c of this.#containers) this.#run(c);
    this.#o.onChange();
  }

  #run(c: Container): void {
    if (this.#stopping) return;
    const launch = c.launch!;
    const opts: { env: Record<string, string>; cwd?: string; logFile: string } = { env: launch.env, logFile: `${this.#o.logDir}/${c.spec.name}.log` };
    if (launch.cwd) opts.cwd = launch.cwd;
    let child: ChildProcess;
    try {
      child = this.#o.spawn(this.#o.netns, launch.command, opts);
    } catch (err) {
      this.#exited(c, undefined, 128, `cannot start: ${(err as Error).message}`);
      return;
    }
    c.child = child;
    c.startedAtMs = this.#o.clock.now();
    const started = c.spec.startupProbe === undefined;
    c.state = { ...c.state, started, state: { kind: 'running', startedAt: new Date(c.startedAtMs).toISOString(), pid: child.pid ?? 0 } };
    if (!started) this.#probeStartup(c, child);
    let done = false;
    // 'error' (e.g. a missing cwd) may come without 'exit'; count each run's end once.
    child.once('error', (err) => {
      if (!done) {
        done = true;
        this.#exited(c, child, 128, err.message);
      }
    });
    child.once('exit', (code, signal) => {
      if (done) return;
      done = true;
      const exitCode = code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
      this.#exited(c, child, exitCode);
    });
  }

  /**
   * The startupProbe, every periodSeconds after initialDelaySeconds, until it passes (the
   * container is started; a sidecar lets the next container start) or fails failureThreshold
   * times in a row (the container is killed and restarted, as the real kubelet does).
   */
  #probeStartup(c: Container, child: ChildProcess): void {
    const probe = c.spec.startupProbe!;
    const period = (probe.periodSeconds ?? probeDefaults.periodSeconds) * 1000;
    const threshold = probe.failureThreshold ?? probeDefaults.failureThreshold;
    const probeFn = this.#o.probe ?? runProbe;
    c.probeFailures = 0;
    const attempt = (): void => {
      c.probeTimer = undefined;
      void probeFn(this.#o.netns, probe, this.#o.facts.podIP).then(
        (ok) => settle(ok),
        () => settle(false),
      );
    };
    const settle = (ok: boolean): void => {
      if (this.#stopping || c.child !== child) return;
      if (ok) {
        c.state = { ...c.state, started: true };
        this.#o.onChange();
        if (c.role === 'sidecar') this.#advance();
        return;
      }
      if (++c.probeFailures >= threshold) {
        this.#o.logger.warn({ container: c.spec.name, failures: c.probeFailures }, 'startup probe failed; killing the container');
        child.kill('SIGKILL');
        return;
      }
      c.probeTimer = this.#o.clock.setTimeout(attempt, period);
    };
    const delay = (probe.initialDelaySeconds ?? probeDefaults.initialDelaySeconds) * 1000;
    if (delay > 0) c.probeTimer = this.#o.clock.setTimeout(attempt, delay);
    else attempt();
  }

  #exited(c: Container, child: ChildProcess | undefined, exitCode: number, message?: string): void {
    if (c.child === child) c.child = undefined;
    if (c.probeTimer !== undefined) this.#o.clock.clearTimeout(c.probeTimer);
    c.probeTimer = undefined;
    const now = this.#o.clock.now();
    const terminated = {
      kind: 'terminated' as const,
      exitCode,
      reason: exitCode === 0 ? 'Completed' : message ? 'StartError' : 'Error',
      startedAt: new Date(c.startedAtMs || now).toISOString(),
      finishedAt: new Date(now).toISOString(),
      ...(child?.pid !== undefined ? { pid: child.pid } : {}),
    };
    if (this.#stopping) {
      c.state = { ...c.state, final: true, state: terminated };
      return;
    }
    const podPolicy = this.#o.pod.spec?.restartPolicy;
    // A sidecar always restarts; an init container is retried until it succeeds unless the pod never restarts.
    const policy = c.role === 'sidecar' ? 'Always' : c.role === 'init' ? (podPolicy === 'Never' ? 'Never' : 'OnFailure') : podPolicy;
    this.#o.logger.info({ container: c.spec.name, exitCode }, 'container exited');
    if (!shouldRestart(policy, exitCode)) {
      c.state = { ...c.state, final: true, started: false, state: terminated };
      if (c.role === 'init' && exitCode !== 0)
        this.#failure = { reason: 'InitContainerFailed', message: `init container ${c.spec.name} exited with ${exitCode}` };
      this.#o.onChange();
      if (c.role === 'init') this.#advance();
      return;
    }
    const delay = nextRestartDelay(c.backoffMs, now - (c.startedAtMs || now));
    c.backoffMs = delay;
    const meta = this.#o.pod.metadata ?? {};
    c.state = {
      ...c.state,
      started: false,
      lastTerminated: terminated,
      state: {
        kind: 'waiting',
        reason: 'CrashLoopBackOff',
        message: `back-off ${delay / 1000}s restarting failed container=${c.spec.name} pod=${meta.name}_${meta.namespace}(${meta.uid})`,
      },
    };
    c.restartTimer = this.#o.clock.setTimeout(() => {
      c.restartTimer = undefined;
      if (this.#stopping) return;
      c.state = { ...c.state, restartCount: c.state.restartCount + 1 };
      this.#run(c);
      this.#o.onChange();
    }, delay);
    this.#o.onChange();
  }

  /** SIGTERM the app containers, then the init containers; SIGKILL what is left after the grace period. */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const c of [...this.#init, ...this.#containers]) {
      if (c.restartTimer !== undefined) this.#o.clock.clearTimeout(c.restartTimer);
      if (c.probeTimer !== undefined) this.#o.clock.clearTimeout(c.probeTimer);
    }
    await this.#terminate(this.#containers);
    await this.#terminate(this.#init);
  }

  async #terminate(containers: Container[]): Promise<void> {
    const running: Promise<void>[] = [];
    for (const c of containers) {
      const child = c.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) continue;
      running.push(
        new Promise<void>((resolve) => {
          const kill = setTimeout(() => {
            child.kill('SIGKILL');
          }, this.#o.stopGraceMs ?? 5_000);
          // A SIGKILLed process always exits; this bound only guards a lost 'exit' event.
          const giveUp = setTimeout(resolve, (this.#o.stopGraceMs ?? 5_000) + 2_000);
          child.once('exit', () => {
            clearTimeout(kill);
            clearTimeout(giveUp);
            resolve();
          });
          child.kill('SIGTERM');
        }),
      );
    }
    await Promise.all(running);
  }
}

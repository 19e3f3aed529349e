// Runs one pod's containers as processes in the pod's netns and keeps them running according
// to restartPolicy, with crash-loop back-off. It only tracks state and reports changes; the
// kubelet turns that state into the pod's status. Spawning and time are injected so the
// restart behaviour is testable with fake timers.
import type { ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Clock } from '@ambient/api';
import { ContainerConfigError, renderContainerLaunch, type ContainerLaunch, type PodRuntimeFacts } from './container-env.ts';
import type { ContainerRuntimeState, PodRuntimeState } from './pod-status.ts';
import { nextRestartDelay, shouldRestart } from './restart-backoff.ts';

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
}

interface Container {
  spec: V1Container;
  launch?: ContainerLaunch;
  state: ContainerRuntimeState;
  child?: ChildProcess;
  startedAtMs: number;
  backoffMs?: number;
  restartTimer?: unknown;
}

export class PodWorker {
  readonly #o: PodWorkerOptions;
  readonly #containers: Container[];
  readonly #startTime: string;
  #failure: PodRuntimeState['failure'];
  #stopping = false;

  constructor(o: PodWorkerOptions) {
    this.#o = o;
    this.#startTime = o.pod.status?.startTime ? new Date(o.pod.status.startTime).toISOString() : new Date(o.clock.now()).toISOString();
    const previous = new Map((o.pod.status?.containerStatuses ?? []).map((s) => [s.name, s]));
    this.#containers = (o.pod.spec?.containers ?? []).map((spec) => ({
      spec,
      startedAtMs: 0,
      // Restart counts survive a kubelet restart, as they do across real kubelet restarts.
      state: {
        name: spec.name,
        image: spec.image ?? '',
        restartCount: previous.get(spec.name)?.restartCount ?? 0,
        final: false,
        state: { kind: 'waiting', reason: 'ContainerCreating' },
      },
    }));
  }

  get state(): PodRuntimeState {
    const s: PodRuntimeState = {
      podIP: this.#o.facts.podIP,
      hostIP: this.#o.facts.hostIP,
      startTime: this.#startTime,
      containers: this.#containers.map((c) => c.state),
    };
    if (this.#failure) s.failure = this.#failure;
    return s;
  }

  /** Renders every container's launch first: a pod with one bad container starts none. */
  start(): void {
    try {
      for (const c of this.#containers) c.launch = renderContainerLaunch(this.#o.pod, c.spec, this.#o.facts);
    } catch (err) {
      if (!(err instanceof ContainerConfigError)) throw err;
      this.#failure = { reason: err.reason, message: err.message };
      for (const c of this.#containers) c.state = { ...c.state, final: true, state: { kind: 'waiting', reason: err.reason, message: err.message } };
      this.#o.logger.warn({ reason: err.reason }, err.message);
      this.#o.onChange();
      return;
    }
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
    c.state = { ...c.state, state: { kind: 'running', startedAt: new Date(c.startedAtMs).toISOString(), pid: child.pid ?? 0 } };
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

  #exited(c: Container, child: ChildProcess | undefined, exitCode: number, message?: string): void {
    if (c.child === child) c.child = undefined;
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
    const policy = this.#o.pod.spec?.restartPolicy;
    this.#o.logger.info({ container: c.spec.name, exitCode }, 'container exited');
    if (!shouldRestart(policy, exitCode)) {
      c.state = { ...c.state, final: true, state: terminated };
      this.#o.onChange();
      return;
    }
    const delay = nextRestartDelay(c.backoffMs, now - (c.startedAtMs || now));
    c.backoffMs = delay;
    const meta = this.#o.pod.metadata ?? {};
    c.state = {
      ...c.state,
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

  /** SIGTERM every container, SIGKILL what is left after the grace period. */
  async stop(): Promise<void> {
    this.#stopping = true;
    const running: Promise<void>[] = [];
    for (const c of this.#containers) {
      if (c.restartTimer !== undefined) this.#o.clock.clearTimeout(c.restartTimer);
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

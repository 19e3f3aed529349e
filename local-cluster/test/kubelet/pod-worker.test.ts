import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import pino from 'pino';
import type { Clock } from '@ambient/api';
import { PodWorker } from '../../src/kubelet/pod-worker.ts';

// The worker's restart logic against a scripted process table and a manual clock: the real
// processes are exercised by the integration test; here time must be controlled.
class FakeChild extends EventEmitter {
  readonly pid: number;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  constructor(pid: number) {
    super();
    this.pid = pid;
  }
  exit(code: number): void {
    this.exitCode = code;
    this.emit('exit', code, null);
  }
  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    this.signalCode = signal;
    this.emit('exit', null, signal);
    return true;
  }
}

class ManualClock implements Clock {
  t = Date.parse('2026-01-01T00:00:00Z');
  timers: { at: number; fn: () => void; id: number }[] = [];
  #next = 1;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== h);
  }
  advance(ms: number): void {
    const until = this.t + ms;
    for (let i = 0; i < 1000; i++) {
      const due = this.timers.filter((x) => x.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = due.at;
      due.fn();
    }
    this.t = until;
  }
}

function setup(restartPolicy: string, containers: V1Container[] = [{ name: 'app', command: ['run'] }], initContainers?: V1Container[]) {
  const clock = new ManualClock();
  const children: FakeChild[] = [];
  /** What each spawned child runs, by index. */
  const commands: string[] = [];
  /** Probe answers in order; each probe call takes the next (false when none is left). */
  const probeAnswers: boolean[] = [];
  let probes = 0;
  let changes = 0;
  const pod: V1Pod = { metadata: { name: 'p', namespace: 'ns', uid: 'u' }, spec: { restartPolicy, containers, ...(initContainers ? { initContainers } : {}) } };
  const worker = new PodWorker({
    pod,
    netns: 'lcx-pu',
    facts: { podIP: '10.244.1.2', hostIP: '10.250.0.1', binPath: [] },
    logDir: '/nonexistent',
    spawn: (_netns, command) => {
      const c = new FakeChild(100 + children.length);
      children.push(c);
      commands.push(command[0]!);
      return c as unknown as ChildProcess;
    },
    probe: async () => {
      probes++;
      return probeAnswers.shift() ?? false;
    },
    clock,
    logger: pino({ level: 'silent' }),
    onChange: () => {
      changes++;
    },
  });
  return { clock, children, commands, probeAnswers, probes: () => probes, worker, changes: () => changes };
}

/** Lets the probe promises settle. */
const settle = () => new Promise((r) => setImmediate(r));

describe('pod worker', () => {
  it('restarts a crashing container with doubling back-off, showing CrashLoopBackOff meanwhile', () => {
    const { clock, children, worker } = setup('Always');
    worker.start();
    assert.equal(worker.state.containers[0]!.state.kind, 'running');
    children[0]!.exit(1);
    const waiting = worker.state.containers[0]!;
    assert.equal(waiting.state.kind, 'waiting');
    assert.equal(waiting.state.kind === 'waiting' && waiting.state.reason, 'CrashLoopBackOff');
    assert.equal(waiting.lastTerminated?.exitCode, 1);
    clock.advance(999);
    assert.equal(children.length, 1);
    clock.advance(1);
    assert.equal(children.length, 2);
    assert.equal(worker.state.containers[0]!.restartCount, 1);
    children[1]!.exit(1);
    clock.advance(1999);
    assert.equal(children.length, 2);
    clock.advance(1);
    assert.equal(children.length, 3);
    assert.equal(worker.state.containers[0]!.restartCount, 2);
  });

  it('leaves a container that succeeded under OnFailure terminated, and the pod Succeeded', () => {
    const { clock, children, worker } = setup('OnFailure');
    worker.start();
    children[0]!.exit(0);
    clock.advance(60_000);
    assert.equal(children.length, 1);
    const c = worker.state.containers[0]!;
    assert.equal(c.final, true);
    assert.equal(c.state.kind === 'terminated' && c.state.reason, 'Completed');
  });

  it('fails the whole pod without starting anything when a container has no command', () => {
    const { children, worker } = setup('Always', [
      { name: 'ok', command: ['run'] },
      { name: 'bad', image: 'nginx' },
    ]);
    worker.start();
    assert.equal(children.length, 0);
    assert.equal(worker.state.failure?.reason, 'NoCommand');
  });

  it('stops without restarting what it killed', async () => {
    const { clock, children, worker } = setup('Always');
    worker.start();
    await worker.stop();
    clock.advance(60_000);
    assert.equal(children.length, 1);
    assert.equal(children[0]!.signalCode, 'SIGTERM');
  });

  it('continues the restart count of a pod it takes over after a restart', () => {
    const clock = new ManualClock();
    const worker = new PodWorker({
      pod: {
        metadata: { name: 'p', namespace: 'ns', uid: 'u' },
        spec: { containers: [{ name: 'app', command: ['run'] }] },
        status: { containerStatuses: [{ name: 'app', restartCount: 4, image: '', imageID: '', ready: false }] },
      },
      netns: 'x',
      facts: { podIP: '10.244.1.2', hostIP: '10.250.0.1', binPath: [] },
      logDir: '/nonexistent',
      spawn: () => new FakeChild(1) as unknown as ChildProcess,
      clock,
      logger: pino({ level: 'silent' }),
      onChange: () => {},
    });
    worker.start();
    assert.equal(worker.state.containers[0]!.restartCount, 4);
  });

  describe('init containers', () => {
    const proxy: V1Container = {
      name: 'istio-proxy',
      command: ['proxy'],
      restartPolicy: 'Always',
      startupProbe: { httpGet: { path: '/healthz/ready', port: 15021 }, periodSeconds: 1, failureThreshold: 3 },
    };

    it('starts the app only once a native sidecar passed its startupProbe, and keeps both running', async () => {
      const { clock, commands, probeAnswers, worker } = setup('Always', [{ name: 'app', command: ['app'] }], [proxy]);
      probeAnswers.push(false, true);
      worker.start();
      await settle();
      assert.deepEqual(commands, ['proxy'], 'the app waits for the proxy');
      assert.equal(worker.state.initialized, false);
      assert.equal(worker.state.containers[0]!.state.kind === 'waiting' && worker.state.containers[0]!.state.reason, 'PodInitializing');
      clock.advance(1_000);
      await settle();
      assert.deepEqual(commands, ['proxy', 'app']);
      assert.equal(worker.state.initialized, true);
      assert.equal(worker.state.initContainers[0]!.started, true);
      assert.equal(worker.state.initContainers[0]!.state.kind, 'running');
    });

    it('kills a sidecar whose startupProbe fails failureThreshold times and restarts it, the app still waiting', async () => {
      const { clock, children, commands, probes, worker } = setup('Always', [{ name: 'app', command: ['app'] }], [proxy]);
      worker.start(); // the first probe at once (no initialDelaySeconds), then one every periodSeconds
      for (let i = 0; i < 2; i++) {
        await settle();
        clock.advance(1_000);
      }
      await settle();
      assert.equal(probes(), 3);
      assert.equal(children[0]!.signalCode, 'SIGKILL');
      assert.deepEqual(commands, ['proxy']);
      clock.advance(1_000);
      await settle();
      assert.deepEqual(commands, ['proxy', 'proxy'], 'restarted after its back-off; the app never started');
      assert.equal(worker.state.initContainers[0]!.restartCount, 1);
    });

    it('restarts a crashed sidecar even under restartPolicy Never, without restarting the app', async () => {
      const { clock, children, commands, probeAnswers, worker } = setup('Never', [{ name: 'app', command: ['app'] }], [proxy]);
      probeAnswers.push(true);
      worker.start();
      await settle();
      assert.deepEqual(commands, ['proxy', 'app']);
      children[0]!.exit(1);
      assert.equal(worker.state.initContainers[0]!.started, false);
      clock.advance(10_000);
      assert.deepEqual(commands, ['proxy', 'app', 'proxy']);
    });

    it('runs a regular init container to completion first, and fails the pod when it fails under Never', () => {
      const ok = setup('Always', [{ name: 'app', command: ['app'] }], [{ name: 'setup', command: ['setup'] }]);
      ok.worker.start();
      assert.deepEqual(ok.commands, ['setup']);
      ok.children[0]!.exit(0);
      assert.deepEqual(ok.commands, ['setup', 'app']);
      assert.equal(ok.worker.state.initialized, true);

      const failing = setup('Never', [{ name: 'app', command: ['app'] }], [{ name: 'setup', command: ['setup'] }]);
      failing.worker.start();
      failing.children[0]!.exit(2);
      failing.clock.advance(60_000);
      assert.deepEqual(failing.commands, ['setup']);
      assert.equal(failing.worker.state.failure?.reason, 'InitContainerFailed');
    });

    it('stops the app before its sidecar', async () => {
      const { children, probeAnswers, worker } = setup('Always', [{ name: 'app', command: ['app'] }], [proxy]);
      probeAnswers.push(true);
      worker.start();
      await settle();
      const order: string[] = [];
      children[0]!.once('exit', () => order.push('proxy'));
      children[1]!.once('exit', () => order.push('app'));
      await worker.stop();
      assert.deepEqual(order, ['app', 'proxy']);
    });
  });
});

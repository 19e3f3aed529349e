import assert from 'node:assert/strict';
import { computePodStatus, podPhase, type ContainerRuntimeState, type PodRuntimeState } from '../../src/kubelet/pod-status.ts';

const T0 = '2026-01-01T00:00:00Z';
const T1 = '2026-01-01T00:01:00Z';
const running = (name: string, restartCount = 0): ContainerRuntimeState => ({
  name,
  image: 'img',
  restartCount,
  final: false,
  started: true,
  state: { kind: 'running', startedAt: T0, pid: 42 },
});
const terminated = (name: string, exitCode: number, final: boolean): ContainerRuntimeState => ({
  name,
  image: 'img',
  restartCount: 0,
  final,
  started: false,
  state: { kind: 'terminated', exitCode, reason: exitCode ? 'Error' : 'Completed', startedAt: T0, finishedAt: T1, pid: 7 },
});
const base = (containers: ContainerRuntimeState[]): PodRuntimeState => ({
  podIP: '10.244.1.2',
  hostIP: '10.250.0.1',
  startTime: T0,
  initialized: true,
  initContainers: [],
  containers,
});
const waiting = (name: string, reason: string): ContainerRuntimeState => ({
  name,
  image: 'img',
  restartCount: 0,
  final: false,
  started: false,
  state: { kind: 'waiting', reason },
});
/** A native sidecar (init container, restartPolicy Always) before or after its startupProbe passed. */
const sidecar = (started: boolean): ContainerRuntimeState => ({ ...running('istio-proxy'), started });

describe('pod status', () => {
  const phases: [string, PodRuntimeState, string][] = [
    ['no container started yet', base([waiting('a', 'ContainerCreating')]), 'Pending'],
    ['all running', base([running('a'), running('b')]), 'Running'],
    [
      'one in back-off',
      base([running('a'), { ...terminated('b', 1, false), restartCount: 1, state: { kind: 'waiting', reason: 'CrashLoopBackOff' } }]),
      'Running',
    ],
    ['all exited 0 for good', base([terminated('a', 0, true)]), 'Succeeded'],
    ['one exited 1 for good', base([terminated('a', 0, true), terminated('b', 1, true)]), 'Failed'],
    ['exited but will restart', base([terminated('a', 1, false)]), 'Running'],
    ['its sidecar is not started yet', { ...base([waiting('app', 'PodInitializing')]), initialized: false, initContainers: [sidecar(false)] }, 'Pending'],
    ['its sidecar started and the app runs', { ...base([running('app')]), initContainers: [sidecar(true)] }, 'Running'],
    ['could not start', { ...base([]), failure: { reason: 'NoCommand', message: 'x' } }, 'Failed'],
  ];
  for (const [what, state, phase] of phases) {
    it(`is ${phase} when ${what}`, () => assert.equal(podPhase(state), phase));
  }

  it('reports Ready with container statuses as kubectl reads them', () => {
    const s = computePodStatus(base([running('a', 3)]), undefined, T1);
    assert.equal(s.podIP, '10.244.1.2');
    assert.deepEqual(s.podIPs, [{ ip: '10.244.1.2' }]);
    assert.equal(s.conditions.find((c) => c.type === 'Ready')?.status, 'True');
    assert.deepEqual(s.containerStatuses[0], {
      name: 'a',
      image: 'img',
      imageID: '',
      ready: true,
      started: true,
      restartCount: 3,
      state: { running: { startedAt: T0 } },
      lastState: {},
      containerID: 'local://42',
    });
  });

  it('explains not-ready containers and keeps transition times of unchanged conditions', () => {
    const first = computePodStatus(base([running('a')]), undefined, T0);
    const backoff: ContainerRuntimeState = {
      name: 'b',
      image: 'img',
      restartCount: 2,
      final: false,
      started: false,
      state: { kind: 'waiting', reason: 'CrashLoopBackOff', message: 'back-off 2s' },
    };
    const second = computePodStatus(base([running('a'), backoff]), first.conditions, T1);
    const ready = second.conditions.find((c) => c.type === 'Ready')!;
    assert.deepEqual(ready, {
      type: 'Ready',
      status: 'False',
      lastTransitionTime: T1,
      reason: 'ContainersNotReady',
      message: 'containers with unready status: [b]',
    });
    assert.equal(second.conditions.find((c) => c.type === 'PodScheduled')!.lastTransitionTime, T0);
    assert.deepEqual(second.containerStatuses[1]!.state, { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 2s' } });
  });

  it('carries the failure reason of a pod that could not start', () => {
    const s = computePodStatus(
      { hostIP: '10.250.0.1', initialized: false, initContainers: [], containers: [], failure: { reason: 'NoCommand', message: 'no command' } },
      undefined,
      T0,
    );
    assert.equal(s.phase, 'Failed');
    assert.equal(s.reason, 'NoCommand');
    assert.equal(s.message, 'no command');
  });

  describe('with a native sidecar (an init container with restartPolicy Always)', () => {
    it('is not Initialized, nor Ready, while the sidecar has not passed its startupProbe', () => {
      const s = computePodStatus({ ...base([waiting('app', 'PodInitializing')]), initialized: false, initContainers: [sidecar(false)] }, undefined, T0);
      assert.deepEqual(
        s.conditions.find((c) => c.type === 'Initialized'),
        {
          type: 'Initialized',
          status: 'False',
          lastTransitionTime: T0,
          reason: 'ContainersNotInitialized',
          message: 'containers with incomplete status: [istio-proxy]',
        },
      );
      assert.equal(s.conditions.find((c) => c.type === 'Ready')?.status, 'False');
      assert.deepEqual(
        s.initContainerStatuses?.map((c) => [c.name, c.started, c.ready]),
        [['istio-proxy', false, false]],
      );
      assert.deepEqual(s.containerStatuses[0]!.state, { waiting: { reason: 'PodInitializing' } });
    });

    it('is Ready once the sidecar started and the app runs, and not Ready when the sidecar is down', () => {
      const up = computePodStatus({ ...base([running('app')]), initContainers: [sidecar(true)] }, undefined, T0);
      assert.equal(up.conditions.find((c) => c.type === 'Initialized')?.status, 'True');
      assert.equal(up.conditions.find((c) => c.type === 'Ready')?.status, 'True');
      assert.deepEqual(up.initContainerStatuses?.[0], { ...up.containerStatuses[0], name: 'istio-proxy' });
      const restarting = { ...sidecar(false), state: { kind: 'waiting' as const, reason: 'CrashLoopBackOff' } };
      const down = computePodStatus({ ...base([running('app')]), initContainers: [restarting] }, up.conditions, T1);
      assert.equal(down.conditions.find((c) => c.type === 'Ready')?.message, 'containers with unready status: [istio-proxy]');
    });

    it('reports a completed regular init container ready and leaves it out of the pod readiness', () => {
      const s = computePodStatus({ ...base([running('app')]), initContainers: [terminated('setup', 0, true)] }, undefined, T0);
      assert.equal(s.initContainerStatuses?.[0]?.ready, true);
      assert.equal(s.conditions.find((c) => c.type === 'Ready')?.status, 'True');
    });
  });
});

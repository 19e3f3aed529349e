// The pod status the kubelet reports, computed from what its containers are doing. Pure, so
// what `kubectl get pods` shows (READY, STATUS, RESTARTS) is pinned by table tests.
// Readiness probes are not implemented: a container is ready while its process runs.

export type ContainerState =
  | { kind: 'waiting'; reason: string; message?: string }
  | { kind: 'running'; startedAt: string; pid: number }
  | { kind: 'terminated'; exitCode: number; reason: string; startedAt: string; finishedAt: string; pid?: number };

export interface ContainerRuntimeState {
  name: string;
  image: string;
  state: ContainerState;
  restartCount: number;
  lastTerminated?: Extract<ContainerState, { kind: 'terminated' }>;
  /** Terminated and will not be started again (restartPolicy says so). */
  final: boolean;
}

export interface PodRuntimeState {
  podIP?: string;
  hostIP: string;
  startTime?: string;
  containers: ContainerRuntimeState[];
  /** The pod could not be started at all (e.g. a container without command). */
  failure?: { reason: string; message: string };
}

export interface PodCondition {
  type: string;
  status: 'True' | 'False';
  lastTransitionTime: string;
  reason?: string;
  message?: string;
}

export interface PodStatus {
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  reason?: string;
  message?: string;
  hostIP: string;
  hostIPs: { ip: string }[];
  podIP?: string;
  podIPs?: { ip: string }[];
  startTime?: string;
  conditions: PodCondition[];
  containerStatuses: Record<string, unknown>[];
}

export function podPhase(state: PodRuntimeState): PodStatus['phase'] {
  if (state.failure) return 'Failed';
  const cs = state.containers;
  if (cs.length > 0 && cs.every((c) => c.final)) {
    return cs.every((c) => c.state.kind === 'terminated' && c.state.exitCode === 0) ? 'Succeeded' : 'Failed';
  }
  const started = cs.some((c) => c.state.kind !== 'waiting' || c.restartCount > 0);
  return started ? 'Running' : 'Pending';
}

function renderState(s: ContainerState): Record<string, unknown> {
  switch (s.kind) {
    case 'waiting':
      return { waiting: s.message ? { reason: s.reason, message: s.message } : { reason: s.reason } };
    case 'running':
      return { running: { startedAt: s.startedAt } };
    case 'terminated': {
      const t: Record<string, unknown> = { exitCode: s.exitCode, reason: s.reason, startedAt: s.startedAt, finishedAt: s.finishedAt };
      if (s.pid !== undefined) t.containerID = `local://${s.pid}`;
      return { terminated: t };
    }
  }
}

function containerId(c: ContainerRuntimeState): string | undefined {
  if (c.state.kind === 'running') return `local://${c.state.pid}`;
  if (c.state.kind === 'terminated' && c.state.pid !== undefined) return `local://${c.state.pid}`;
  if (c.lastTerminated?.pid !== undefined) return `local://${c.lastTerminated.pid}`;
  return undefined;
}

/**
 * Full pod status. `previous` conditions keep their lastTransitionTime while their status
 * does not change, as the real kubelet does.
 */
export function computePodStatus(state: PodRuntimeState, previous: PodCondition[] | undefined, now: string): PodStatus {
  const phase = podPhase(state);
  const allRunning = state.containers.length > 0 && state.containers.every((c) => c.state.kind === 'running');
  const notReady = state.containers.filter((c) => c.state.kind !== 'running').map((c) => c.name);
  const readyMessage = notReady.length ? `containers with unready status: [${notReady.join(' ')}]` : undefined;
  const cond = (type: string, ok: boolean, reason?: string, message?: string): PodCondition => {
    const status = ok ? 'True' : 'False';
    const before = previous?.find((p) => p.type === type);
    const c: PodCondition = { type, status, lastTransitionTime: before?.status === status ? before.lastTransitionTime : now };
    if (!ok && reason) c.reason = reason;
    if (!ok && message) c.message = message;
    return c;
  };
  const completed = phase === 'Succeeded' || phase === 'Failed';
  const readyReason = completed ? 'PodCompleted' : 'ContainersNotReady';
  const status: PodStatus = {
    phase,
    hostIP: state.hostIP,
    hostIPs: [{ ip: state.hostIP }],
    conditions: [
      cond('PodReadyToStartContainers', !state.failure && state.podIP !== undefined),
      cond('Initialized', true),
      cond('Ready', allRunning, readyReason, readyMessage),
      cond('ContainersReady', allRunning, readyReason, readyMessage),
      cond('PodScheduled', true),
    ],
    containerStatuses: state.containers.map((c) => {
      const s: Record<string, unknown> = {
        name: c.name,
        image: c.image,
        imageID: '',
        ready: c.state.kind === 'running',
        started: c.state.kind === 'running',
        restartCount: c.restartCount,
        state: renderState(c.state),
        lastState: c.lastTerminated ? renderState(c.lastTerminated) : {},
      };
      const id = containerId(c);
      if (id) s.containerID = id;
      return s;
    }),
  };
  if (state.failure) {
    status.reason = state.failure.reason;
    status.message = state.failure.message;
  }
  if (state.podIP) {
    status.podIP = state.podIP;
    status.podIPs = [{ ip: state.podIP }];
  }
  if (state.startTime) status.startTime = state.startTime;
  return status;
}

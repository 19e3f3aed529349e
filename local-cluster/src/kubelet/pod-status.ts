// The pod status the kubelet reports, computed from what its containers are doing. Pure, so
// what `kubectl get pods` shows (READY, STATUS, RESTARTS) is pinned by table tests.
// Readiness probes are not implemented: a container is ready while its process runs (and, with
// a startupProbe, once that passed). Native sidecars (init containers with restartPolicy Always)
// count toward the pod's readiness, as in Kubernetes.

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
  /** Running and its startupProbe passed (at once without one). */
  started: boolean;
}

export interface PodRuntimeState {
  podIP?: string;
  hostIP: string;
  startTime?: string;
  /** Every init container completed, or (a native sidecar) started: the app containers run. */
  initialized: boolean;
  initContainers: ContainerRuntimeState[];
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
  initContainerStatuses?: Record<string, unknown>[];
  containerStatuses: Record<string, unknown>[];
}

export function podPhase(state: PodRuntimeState): PodStatus['phase'] {
  if (state.failure) return 'Failed';
  const cs = state.containers;
  if (cs.length > 0 && cs.every((c) => c.final)) {
    return cs.every((c) => c.state.kind === 'terminated' && c.state.exitCode === 0) ? 'Succeeded' : 'Failed';
  }
  if (!state.initialized) return 'Pending';
  const started = cs.some((c) => c.state.kind !== 'waiting' || c.restartCount > 0);
  return started ? 'Running' : 'Pending';
}

/** A container that counts toward the pod's readiness is ready: running, and started. */
function isReady(c: ContainerRuntimeState): boolean {
  return c.state.kind === 'running' && c.started;
}

/** A regular init container is done once it exited 0. */
export function exitedZero(c: ContainerRuntimeState): boolean {
  return c.state.kind === 'terminated' && c.state.exitCode === 0;
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

function containerStatus(c: ContainerRuntimeState, ready: boolean): Record<string, unknown> {
  const s: Record<string, unknown> = {
    name: c.name,
    image: c.image,
    imageID: '',
    ready,
    started: c.state.kind === 'running' && c.started,
    restartCount: c.restartCount,
    state: renderState(c.state),
    lastState: c.lastTerminated ? renderState(c.lastTerminated) : {},
  };
  const id = containerId(c);
  if (id) s.containerID = id;
  return s;
}

function initMessage(state: PodRuntimeState): string | undefined {
  const pending = state.initContainers.filter((c) => !exitedZero(c) && !(c.state.kind === 'running' && c.started)).map((c) => c.name);
  return pending.length ? `containers with incomplete status: [${pending.join(' ')}]` : undefined;
}

/**
 * Full pod status. `previous` conditions keep their lastTransitionTime while their status
 * does not change, as the real kubelet does.
 */
export function computePodStatus(state: PodRuntimeState, previous: PodCondition[] | undefined, now: string): PodStatus {
  const phase = podPhase(state);
  // Native sidecars are the init containers that keep running; they count toward readiness.
  const counted = [...state.initContainers.filter((c) => !exitedZero(c) && !c.final), ...state.containers];
  const allRunning = state.initialized && state.containers.length > 0 && counted.every(isReady);
  const notReady = counted.filter((c) => !isReady(c)).map((c) => c.name);
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
      cond('Initialized', state.initialized, 'ContainersNotInitialized', initMessage(state)),
      cond('Ready', allRunning, readyReason, readyMessage),
      cond('ContainersReady', allRunning, readyReason, readyMessage),
      cond('PodScheduled', true),
    ],
    containerStatuses: state.containers.map((c) => containerStatus(c, isReady(c))),
  };
  // A regular init container is ready once it completed; a sidecar while it runs, started.
  if (state.initContainers.length > 0) status.initContainerStatuses = state.initContainers.map((c) => containerStatus(c, exitedZero(c) || isReady(c)));
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

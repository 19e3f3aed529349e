// The Node object a kubelet registers for its network namespace. Pure.
import os from 'node:os';

export const KUBELET_VERSION = 'v1.34.0-local';

export interface NodeFacts {
  name: string;
  ip: string;
  podCidr: string;
}

export function nodeLabels(name: string): Record<string, string> {
  return {
    'kubernetes.io/hostname': name,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': goArch(process.arch),
    'beta.kubernetes.io/os': 'linux',
    'beta.kubernetes.io/arch': goArch(process.arch),
  };
}

/** Node reports architectures with Go's names, as kubectl users expect (amd64, not x64). */
export function goArch(nodeArch: string): string {
  return ({ x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm' } as Record<string, string>)[nodeArch] ?? nodeArch;
}

export function nodeStatus(facts: NodeFacts, now: string, readySince: string): Record<string, unknown> {
  const capacity = { cpu: String(os.availableParallelism()), memory: `${Math.floor(os.totalmem() / 1024)}Ki`, pods: '110' };
  const condition = (type: string, status: string, reason: string, message: string, since: string) => ({
    type,
    status,
    reason,
    message,
    lastHeartbeatTime: now,
    lastTransitionTime: since,
  });
  return {
    addresses: [
      { type: 'InternalIP', address: facts.ip },
      { type: 'Hostname', address: facts.name },
    ],
    capacity,
    allocatable: capacity,
    conditions: [
      condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available', readySince),
      condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure', readySince),
      condition('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available', readySince),
      condition('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status', readySince),
    ],
    nodeInfo: {
      machineID: '',
      systemUUID: '',
      bootID: '',
      kernelVersion: os.release(),
      osImage: `local-cluster (${os.type()} ${os.release()})`,
      containerRuntimeVersion: 'local://netns',
      kubeletVersion: KUBELET_VERSION,
      kubeProxyVersion: KUBELET_VERSION,
      operatingSystem: 'linux',
      architecture: goArch(process.arch),
    },
    daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
  };
}

export function nodeObject(facts: NodeFacts, now: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: facts.name, labels: nodeLabels(facts.name) },
    spec: { podCIDR: facts.podCidr, podCIDRs: [facts.podCidr] },
    status: nodeStatus(facts, now, now),
  };
}

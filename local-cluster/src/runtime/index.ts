// The local cluster's runtime: nodes and pods as real network namespaces. It knows nothing
// about the Kubernetes API; the kubelet and controllers drive it.
export { ClusterNetwork, nodeCniDirs, referencePluginDirs, type NodeNet, type PodIdentity, type PodNet } from './cluster-network.ts';
export { CniPluginError, CniRuntime, loadNetworkList, type CniAttachment, type CniResult } from './cni-runtime.ts';
export { checkPrivileges, privilegesMessage } from './check-privileges.ts';
export { clusterIdEnv, clusterProcesses, isAlive, processStartTicks, selfIdentity, stopProcesses, type ProcessIdentity } from './cluster-processes.ts';
export { CommandError, type RunResult } from './exec.ts';
export { execInNetns, killNetnsProcesses, listNetns, spawnInNetns } from './netns.ts';
export {
  clusterIdFor,
  fabricNetns,
  netnsPrefix,
  nodeNetns,
  podCidr,
  podGateway,
  podNetns,
  serviceCidr,
} from './network-plan.ts';
export { renderHostsFile, type HostsEntry } from './pod-hosts.ts';
export { parseIptablesSave, renderNodeBaseRules, renderServiceRules, type ServiceRule } from './service-rules.ts';
export { teardownCluster } from './teardown-cluster.ts';

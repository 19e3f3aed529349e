// The CNI node agent as a library: the local cluster and the tests start it in-process.
export { CniAgent, type CniAgentOptions, type NodePod } from './agent.ts';
export { CniError, cniErrorCodes, parseCniArgs, type CniResult, type PluginRequest } from './cni-request.ts';
export { chainPlugin, CniConfigError, ConflistGuard, installPluginBinary, pluginType, primaryConfFile } from './install.ts';
export { podApi } from './kube-pods.ts';
export { NodeAgentServer, type NodeAgentMessage, type PodInfo } from './node-agent-server.ts';
export { PluginHandler, type PodLookup } from './plugin-handler.ts';
export { PodState, type PodAttachment } from './pod-state.ts';

export { leftoversOf, type Leftovers } from './leftovers.ts';
export { until } from './until.ts';
export { echoContainer, echoScript, MeshPods, metricSum, type CallSummary } from './mesh-pods.ts';
export { captureFabric, type FabricCapture } from './fabric-capture.ts';

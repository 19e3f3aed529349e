// @ambient/api/kube: the Kubernetes helpers istiod-lite and the local cluster share. A separate
// entry so that importing @ambient/api (ztunnel does) does not load @kubernetes/client-node.
export * from './api-errors.ts';
export * from './label-selector.ts';
export * from './latest-wins.ts';
export * from './merge-patch.ts';
export * from './resilient-informer.ts';

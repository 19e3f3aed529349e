// The local cluster's controller manager: scheduler, Deployment, DaemonSet and EndpointSlice
// controllers and the service proxy, all API clients of the embedded API server sharing one
// set of informers, each a debounced level-triggered loop.
import type { ClusterContext } from './cluster-context.ts';
import { ClusterInformers } from './cluster-informers.ts';
import { makeDaemonSetController } from './daemonset-controller.ts';
import { makeDeploymentController } from './deployment-controller.ts';
import { makeEndpointSliceController } from './endpointslice-controller.ts';
import { reconcileLoop } from './reconcile-loop.ts';
import { makeScheduler } from './scheduler.ts';
import { makeServiceProxy } from './service-proxy.ts';

export type { ClusterContext } from './cluster-context.ts';
export { podRegistryFor, PodRegistry, type RunningPod } from './pod-registry.ts';

export async function startControllers(ctx: ClusterContext): Promise<{ stop(): Promise<void> }> {
  const logger = ctx.logger.child({ component: 'controllers' });
  const informers = new ClusterInformers(ctx.kubeConfig, logger);
  const proxy = makeServiceProxy(ctx, informers, logger.child({ controller: 'service-proxy' }));
  const loops = {
    scheduler: reconcileLoop('scheduler', makeScheduler(ctx, informers, logger.child({ controller: 'scheduler' })), logger),
    deployments: reconcileLoop('deployments', makeDeploymentController(ctx, informers, logger.child({ controller: 'deployment' })), logger),
    daemonsets: reconcileLoop('daemonsets', makeDaemonSetController(ctx, informers, logger.child({ controller: 'daemonset' })), logger),
    endpointslices: reconcileLoop('endpointslices', makeEndpointSliceController(ctx, informers, logger.child({ controller: 'endpointslice' })), logger),
    proxy: reconcileLoop('service-proxy', proxy.reconcile, logger),
  };
  // Which loops care about which kinds (pods feed almost everything).
  const interest: Record<string, (keyof typeof loops)[]> = {
    pods: ['scheduler', 'deployments', 'daemonsets', 'endpointslices'],
    nodes: ['scheduler', 'daemonsets', 'proxy'],
    services: ['endpointslices', 'proxy'],
    endpointslices: ['endpointslices', 'proxy'],
    deployments: ['deployments'],
    daemonsets: ['daemonsets'],
  };
  informers.onChange((kind) => {
    for (const l of interest[kind] ?? []) loops[l].offer();
  });
  await informers.start();
  for (const l of Object.values(loops)) l.offer();
  logger.info('controllers started');
  return {
    async stop() {
      await informers.stop();
      await Promise.all(Object.values(loops).map((l) => l.stop()));
      proxy.close();
    },
  };
}

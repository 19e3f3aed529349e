// The shared caches all controllers read: one informer per kind, like a SharedInformerFactory.
import {
  AppsV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  type KubeConfig,
  type KubernetesObject,
  type V1DaemonSet,
  type V1Deployment,
  type V1EndpointSlice,
  type V1Node,
  type V1Pod,
  type V1Service,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { ResilientInformer } from '@ambient/api/kube';

export type Kind = 'pods' | 'nodes' | 'services' | 'endpointslices' | 'deployments' | 'daemonsets';
type Listener = (kind: Kind, event: 'add' | 'update' | 'delete', obj: KubernetesObject) => void;

export class ClusterInformers {
  readonly pods: ResilientInformer<V1Pod>;
  readonly nodes: ResilientInformer<V1Node>;
  readonly services: ResilientInformer<V1Service>;
  readonly endpointSlices: ResilientInformer<V1EndpointSlice>;
  readonly deployments: ResilientInformer<V1Deployment>;
  readonly daemonSets: ResilientInformer<V1DaemonSet>;
  readonly #listeners: Listener[] = [];

  constructor(kc: KubeConfig, logger: Logger) {
    const core = kc.makeApiClient(CoreV1Api);
    const apps = kc.makeApiClient(AppsV1Api);
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    const make = <T extends KubernetesObject>(kind: Kind, path: string, list: () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>) =>
      new ResilientInformer<T>(kc, {
        path,
        list: list as never,
        logger,
        onEvent: (event, obj) => {
          for (const l of this.#listeners) l(kind, event, obj);
        },
      });
    this.pods = make('pods', '/api/v1/pods', () => core.listPodForAllNamespaces());
    this.nodes = make('nodes', '/api/v1/nodes', () => core.listNode());
    this.services = make('services', '/api/v1/services', () => core.listServiceForAllNamespaces());
    this.endpointSlices = make('endpointslices', '/apis/discovery.k8s.io/v1/endpointslices', () => discovery.listEndpointSliceForAllNamespaces());
    this.deployments = make('deployments', '/apis/apps/v1/deployments', () => apps.listDeploymentForAllNamespaces());
    this.daemonSets = make('daemonsets', '/apis/apps/v1/daemonsets', () => apps.listDaemonSetForAllNamespaces());
  }

  onChange(listener: Listener): void {
    this.#listeners.push(listener);
  }

  #all() {
    return [this.pods, this.nodes, this.services, this.endpointSlices, this.deployments, this.daemonSets];
  }

  async start(): Promise<void> {
    await Promise.all(this.#all().map((i) => i.start()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.#all().map((i) => i.stop()));
  }
}

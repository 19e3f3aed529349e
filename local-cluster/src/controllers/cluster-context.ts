// What every controller and kubelet of the local cluster is given. A leaf: imports only types.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { ClusterNetwork } from '../runtime/index.ts';

export interface ClusterContext {
  kubeConfig: KubeConfig;
  network: ClusterNetwork;
  dataDir: string;
  logger: Logger;
  /** Directories prepended to PATH for pod commands. */
  binPath: string[];
}

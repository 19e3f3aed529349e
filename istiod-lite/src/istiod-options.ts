// What startIstiod takes and gives: the contract between main.ts (flags, environment), tests
// and the composition root.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Clock } from '@ambient/api';
import type { MeshState } from './mesh-state.ts';
import type { IstiodMetrics } from './metrics.ts';
import type { MeshOptions } from './model/inputs.ts';
import type { ProxyPodOptions } from './proxy-pod.ts';

export interface IstiodOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  /** Address the gRPC and metrics servers listen on. Default 0.0.0.0 (127.0.0.1 in the local cluster). */
  host?: string;
  grpcPort?: number; // 15012; 0 = ephemeral
  /** Also serve discovery + CA on this Unix socket (the local cluster's node processes reach the host this way). */
  udsPath?: string;
  metricsPort?: number; // 15014; 0 = ephemeral
  /** The sidecar injection webhook (HTTPS /inject) on `host`: 15017; 0 = ephemeral. */
  webhookPort?: number;
  /** Register the webhook as https://<this host>:<webhook port>/inject instead of the istiod Service
   *  (the local cluster's API server calls istiod-lite on the host: 127.0.0.1). */
  webhookUrlHost?: string;
  mesh?: Partial<MeshOptions>;
  /** Leader election identity; unique per replica (the pod name in Kubernetes). */
  identity?: string;
  /** Quiet period before the model is recomputed after Kubernetes changes. */
  debounceMs?: number;
  /** Timers of the model's debounce; tests drive them. */
  clock?: Clock;
  /** Apply the CRDs of deploy/crds at start (the local cluster does; a real cluster applies deploy/). */
  installCrds?: boolean;
  /** Admit discovery clients of proxy type `test` from root-namespace ServiceAccounts (benchmarks, debugging). */
  allowTestProxies?: boolean;
  /** Also export the process's own metrics (process_resident_memory_bytes, nodejs_heap_size_used_bytes, ...):
   *  the binary does; tests that start many in one process do not. Default false. */
  processMetrics?: boolean;
  /** Concurrent discovery streams per authenticated caller (pod, else ServiceAccount); default 64. */
  maxStreamsPerCaller?: number;
  /** Discovery response bytes in flight across all streams before pushes wait (default 32 MiB). */
  maxPushBytesInFlight?: number;
  /** Audiences a caller's ServiceAccount token must be for (TokenReview spec.audiences); default `istio-ca`, as Istio's. */
  tokenAudiences?: readonly string[];
  /** What waypoint pods and injected sidecars are told about the control plane (defaultProxyPodOptions;
   *  the trust domain is the mesh's): istiod-lite's --waypoint-* flags. */
  proxyPod?: Partial<Omit<ProxyPodOptions, 'trustDomain'>>;
}

export interface Istiod {
  /** host:port of the discovery + CA gRPC server. */
  grpcAddress: string;
  /** `unix:<path>` when udsPath was given. */
  udsAddress?: string;
  metricsUrl: string;
  /** https://<host>:<port>/inject of the injection webhook. */
  webhookUrl: string;
  rootCertPem: string;
  /** Hostname the gRPC server's certificate is for (clients set it as the TLS server name). */
  serverName: string;
  state: MeshState;
  metrics: IstiodMetrics;
  isLeader(): boolean;
  stop(): Promise<void>;
}

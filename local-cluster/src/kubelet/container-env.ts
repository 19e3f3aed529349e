// What a container process sees: environment (literal values, downward API fieldRefs, $(VAR)
// expansion like the real kubelet), command line and working directory. Pure: the pod and its
// runtime facts in, plain data out; errors name the offending container and value.
import { posix } from 'node:path';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { clusterIdEnv } from '../runtime/cluster-processes.ts';
import { MeshError } from '@ambient/api';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface PodRuntimeFacts {
  podIP: string;
  hostIP: string;
  /** Directories prepended to PATH (the cluster's own tools). */
  binPath: string[];
  /** The pod's default ServiceAccount token, exposed as $AMBIENT_SA_TOKEN_FILE. */
  tokenFile?: string;
  /** The tokens of the pod's projected `serviceAccountToken` volume sources, as the kubelet writes them. */
  projectedTokens?: readonly ProjectedTokenFile[];
  /** Marks every container process as this cluster's (LOCAL_CLUSTER_ID), so teardown finds
   *  it even when the kubelet that started it is gone. */
  clusterId?: string;
}

/** Where a pod finds its ServiceAccount token: pods share the host's filesystem, so the file
 *  cannot be mounted at Kubernetes' /var/run/secrets/... path; its path is in this variable. */
export const TOKEN_FILE_ENV = 'AMBIENT_SA_TOKEN_FILE';

/** A `serviceAccountToken` source of a projected volume and the host file that holds its token. */
export interface ProjectedTokenFile {
  volume: string;
  /** The source's `path`, relative to the volume. */
  path: string;
  file: string;
}

/**
 * The projected tokens `container` mounts: the path each would have inside a Kubernetes
 * container (mountPath/path) → the host file. Volumes are not mounted here (pods share the
 * host's filesystem), so this map is how the container finds them. A `subPath` mount is left
 * out: Kubernetes never refreshes a token mounted that way either.
 */
export function mountedTokenFiles(container: V1Container, tokens: readonly ProjectedTokenFile[]): Map<string, string> {
  const files = new Map<string, string>();
  for (const mount of container.volumeMounts ?? []) {
    if (mount.subPath) continue;
    for (const t of tokens) if (t.volume === mount.name) files.set(posix.join(mount.mountPath, t.path), t.file);
  }
  return files;
}

export interface ContainerLaunch {
  command: string[];
  env: Record<string, string>;
  cwd?: string;
}

/** A container that cannot start as configured; `reason` is the kubelet's, shown in its status. */
export class ContainerConfigError extends MeshError<'ERR_CONTAINER_CONFIG'> {
  readonly reason: 'NoCommand' | 'CreateContainerConfigError';
  constructor(reason: 'NoCommand' | 'CreateContainerConfigError', message: string) {
    super('ERR_CONTAINER_CONFIG', message);
    this.reason = reason;
  }
}

/** Downward API: the fieldRef paths the real kubelet resolves for env vars. */
export function resolveFieldRef(pod: V1Pod, facts: PodRuntimeFacts, fieldPath: string): string {
  const meta = pod.metadata ?? {};
  const mapKey = /^metadata\.(labels|annotations)\['([^']+)'\]$/.exec(fieldPath);
  if (mapKey) {
    const map = mapKey[1] === 'labels' ? meta.labels : meta.annotations;
    return map?.[mapKey[2]!] ?? '';
  }
  switch (fieldPath) {
    case 'metadata.name':
      return meta.name ?? '';
    case 'metadata.namespace':
      return meta.namespace ?? '';
    case 'metadata.uid':
      return meta.uid ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? 'default';
    case 'status.podIP':
      return facts.podIP;
    case 'status.podIPs':
      return facts.podIP;
    case 'status.hostIP':
      return facts.hostIP;
    case 'status.hostIPs':
      return facts.hostIP;
    default:
      throw new ContainerConfigError('CreateContainerConfigError', `unsupported fieldRef fieldPath '${fieldPath}'`);
  }
}

/**
 * Kubernetes' `$(VAR)` expansion: references to defined variables are replaced, `$$` escapes
 * a dollar, undefined references stay as written.
 */
export function expandVars(input: string, vars: Record<string, string>): string {
  return input.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) => {
    if (name === undefined) return '$';
    return Object.hasOwn(vars, name) ? vars[name]! : match;
  });
}

export function renderContainerLaunch(pod: V1Pod, container: V1Container, facts: PodRuntimeFacts): ContainerLaunch {
  const who = `container '${container.name}' of pod '${pod.metadata?.namespace}/${pod.metadata?.name}'`;
  const base = container.command ?? [];
  if (base.length === 0) {
    // No images here: a container runs its command on the host's filesystem, so without
    // one there is nothing to run (an image's ENTRYPOINT does not exist).
    throw new ContainerConfigError('NoCommand', `${who} has no command (images are not run by the local cluster; set command)`);
  }
  const env: Record<string, string> = {
    PATH: [...facts.binPath, DEFAULT_PATH].join(':'),
    HOSTNAME: pod.spec?.hostNetwork ? '' : (pod.metadata?.name ?? ''),
  };
  if (!env.HOSTNAME) delete env.HOSTNAME;
  // A container that mounts a projected token reads that one (its audience is the point of
  // projecting it); the first in mount order when it mounts several.
  const mounted = mountedTokenFiles(container, facts.projectedTokens ?? []);
  const tokenFile = mounted.values().next().value ?? facts.tokenFile;
  if (tokenFile) env[TOKEN_FILE_ENV] = tokenFile;
  for (const v of container.env ?? []) {
    if (v.value !== undefined) {
      const value = expandVars(v.value, env);
      // A manifest written for Kubernetes names its token by the mounted path
      // (deploy/daemonset/ztunnel.yaml does): that path is the kubelet's file here.
      env[v.name] = v.name === TOKEN_FILE_ENV ? (mounted.get(posix.normalize(value)) ?? value) : value;
    } else if (v.valueFrom?.fieldRef) env[v.name] = resolveFieldRef(pod, facts, v.valueFrom.fieldRef.fieldPath);
    else if (v.valueFrom) {
      throw new ContainerConfigError(
        'CreateContainerConfigError',
        `${who}: env '${v.name}' uses a valueFrom source other than fieldRef, which the local cluster does not support`,
      );
    } else env[v.name] = '';
  }
  if (facts.clusterId) env[clusterIdEnv] = facts.clusterId; // last: a container cannot unset it
  const command = [...base, ...(container.args ?? [])].map((arg) => expandVars(arg, env));
  const launch: ContainerLaunch = { command, env };
  if (container.workingDir) launch.cwd = container.workingDir;
  return launch;
}

// Pure: what sidecar injection does to a pod, as Istio's injector does it — whether a pod is
// injected at all, and the JSON patch that adds the `istio-proxy` container (`ambient-sidecar`),
// its volumes, the `sidecar.istio.io/status` annotation and the telemetry labels. The webhook
// server (webhook-server.ts) only carries reviews to and from here.
//
// The proxy is a native sidecar, as Istio injects it with ENABLE_NATIVE_SIDECARS: the first init
// container, `restartPolicy: Always`, with a startupProbe on its readiness endpoint, which
// answers 200 only once the pod's capture rules are in place. The kubelet starts the app
// containers only after that probe passed, so the app never sends a byte before its traffic is
// captured (no plaintext window at start-up); should the proxy die later, its capture rules stay
// and redirect to ports nobody listens on: the pod's connections fail closed until it is back.
//
// The proxy reaches the control plane exactly as a waypoint does (proxy-pod.ts: the same env,
// volumes and mounts from the same --waypoint-* flags), and identifies its pod through the
// downward API (name, namespace, IP, ServiceAccount).
//
// Security context: Istio's proxy runs as UID 1337 with every capability dropped, because an
// init container (istio-init, root with NET_ADMIN and NET_RAW) installs the pod's iptables
// capture rules first. This proxy installs its pod's capture rules itself once its listeners
// are up (one container instead of two): it needs NET_ADMIN and NET_RAW, and it
// runs as root, because Kubernetes only adds capabilities to the bounding and permitted sets — a
// non-root process loses them from its effective set at exec (Kubernetes sets no ambient
// capabilities), so iptables would fail. Everything else is dropped; no privilege escalation, no
// privileged mode, a read-only root filesystem.
import { ports } from '@ambient/api';
import type { KubeObject, Manifest } from '../model/inputs.ts';
import { labelsOf } from '../model/kube-object.ts';
import { sidecarInjectLabel, sidecarStatusAnnotation } from '@ambient/api';
import { canonicalName, canonicalRevision, workloadOwner } from '../model/workloads.ts';
import { controlPlaneEnv, controlPlaneVolumeMounts, controlPlaneVolumes, fieldRefEnv, type ProxyPodOptions } from '../proxy-pod.ts';
import { type JsonPatchOperation, pointer } from './json-patch.ts';

export const SIDECAR_CONTAINER = 'istio-proxy';
export const SIDECAR_IMAGE = 'ambient/sidecar:local';
export const tlsModeLabel = 'security.istio.io/tlsMode';
export const canonicalNameLabel = 'service.istio.io/canonical-name';
export const canonicalRevisionLabel = 'service.istio.io/canonical-revision';

/** Namespaces never injected besides the root namespace, as Istio's injector. */
export const neverInjectedNamespaces: readonly string[] = ['kube-system', 'kube-public'];

/** Istio's false-y values of sidecar.istio.io/inject. */
const optOutValues = new Set(['false', 'n', 'no', 'off']);

/**
 * Why a pod must not be injected, or undefined when it must. The webhook's selectors already
 * pick the pods that opted in (namespace istio-injection=enabled or pod label
 * sidecar.istio.io/inject=true); this is the injector's own last word, as Istio's.
 */
export function injectionSkipReason(pod: KubeObject, namespace: string, rootNamespace: string): string | undefined {
  if (namespace === rootNamespace || neverInjectedNamespaces.includes(namespace)) return `namespace ${namespace} is never injected`;
  const annotations: Record<string, string> = pod.metadata?.annotations ?? {};
  const containers: Manifest[] = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
  if (annotations[sidecarStatusAnnotation] !== undefined) return `already injected (annotation ${sidecarStatusAnnotation})`;
  if (containers.some((c) => c?.name === SIDECAR_CONTAINER)) return `already injected (a container named ${SIDECAR_CONTAINER})`;
  for (const [where, map] of [
    ['label', labelsOf(pod)],
    ['annotation', annotations],
  ] as const) {
    const value = map[sidecarInjectLabel];
    if (value !== undefined && optOutValues.has(value.toLowerCase())) return `opted out (${where} ${sidecarInjectLabel}=${value})`;
  }
  if (pod.spec?.hostNetwork === true) return "hostNetwork pod (its traffic is the node's, not its own)";
  return undefined;
}

/**
 * A volume of the pod's own that has the name of one the injection adds: injecting would make
 * an invalid pod (or mount the user's volume where the proxy expects the mesh root), so the pod
 * is left alone and the user warned.
 */
export function conflictingVolume(pod: KubeObject): string | undefined {
  const taken = new Set(((pod.spec?.volumes ?? []) as Manifest[]).map((v) => v?.name));
  return controlPlaneVolumes().find((v) => taken.has(v.name))?.name;
}

/** The injected container (a native sidecar: see the header). */
export function sidecarContainer(opts: ProxyPodOptions): Record<string, unknown> {
  return {
    name: SIDECAR_CONTAINER,
    image: SIDECAR_IMAGE,
    command: ['ambient-sidecar'],
    // Literal values and fieldRefs only: the local kubelet refuses other sources.
    env: [
      fieldRefEnv('POD_NAME', 'metadata.name'),
      fieldRefEnv('POD_NAMESPACE', 'metadata.namespace'),
      fieldRefEnv('POD_IP', 'status.podIP'),
      fieldRefEnv('SERVICE_ACCOUNT', 'spec.serviceAccountName'),
      ...controlPlaneEnv(opts),
    ],
    // Prefixed names: an app container's `metrics` or `http` must stay the one a Service's
    // named targetPort resolves to.
    ports: [
      { name: 'proxy-outbound', containerPort: ports.outbound, protocol: 'TCP' },
      { name: 'proxy-inbound', containerPort: ports.inboundPlaintext, protocol: 'TCP' },
      { name: 'hbone', containerPort: ports.hbone, protocol: 'TCP' },
      { name: 'proxy-metrics', containerPort: ports.metrics, protocol: 'TCP' },
      { name: 'status-port', containerPort: ports.readiness, protocol: 'TCP' },
    ],
    // A native sidecar: started before the app containers, running beside them, stopped after them.
    restartPolicy: 'Always',
    // Istio's values: probed every second for up to 10 minutes before the kubelet restarts it.
    startupProbe: { httpGet: { path: '/healthz/ready', port: ports.readiness }, periodSeconds: 1, timeoutSeconds: 3, failureThreshold: 600 },
    readinessProbe: { httpGet: { path: '/healthz/ready', port: ports.readiness }, periodSeconds: 15, timeoutSeconds: 3, failureThreshold: 4 },
    // See the header: the capture rules are installed by this container, as root.
    securityContext: {
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: false,
      runAsUser: 0,
      runAsGroup: 0,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
    },
    volumeMounts: controlPlaneVolumeMounts(),
  };
}

/** The value of sidecar.istio.io/status: what was injected, as Istio writes it. */
export function sidecarStatus(): string {
  return JSON.stringify({ initContainers: [SIDECAR_CONTAINER], containers: null, volumes: controlPlaneVolumes().map((v) => v.name), revision: 'default' });
}

/**
 * The labels Istio's injector adds when absent: the mTLS mode peers may assume, and the
 * canonical service and revision telemetry reports (the model derives the same defaults).
 */
export function sidecarLabels(pod: KubeObject): Record<string, string> {
  const labels = labelsOf(pod);
  const owner = workloadOwner(pod).name || String(pod.metadata?.generateName ?? '').replace(/-$/, '');
  const wanted: Record<string, string> = {
    [tlsModeLabel]: 'istio',
    [canonicalNameLabel]: canonicalName(labels, owner),
    [canonicalRevisionLabel]: canonicalRevision(labels),
  };
  return Object.fromEntries(Object.entries(wanted).filter(([k]) => labels[k] === undefined));
}

/**
 * The JSON patch that injects the sidecar into `pod` (which injectionSkipReason let through).
 * Paths hold on a pod that has no annotations, labels or volumes yet: the map or list is added
 * whole; into an existing one, entries are added one by one (keys escaped).
 */
export function sidecarInjectionPatch(pod: KubeObject, opts: ProxyPodOptions): JsonPatchOperation[] {
  const ops: JsonPatchOperation[] = [];
  const container = sidecarContainer(opts);
  // First of the init containers: the pod's own init containers already run captured.
  if (Array.isArray(pod.spec?.initContainers)) ops.push({ op: 'add', path: pointer('spec', 'initContainers', '0'), value: container });
  else ops.push({ op: 'add', path: pointer('spec', 'initContainers'), value: [container] });

  const volumes = controlPlaneVolumes();
  if (Array.isArray(pod.spec?.volumes)) for (const v of volumes) ops.push({ op: 'add', path: pointer('spec', 'volumes', '-'), value: v });
  else ops.push({ op: 'add', path: pointer('spec', 'volumes'), value: volumes });

  addToMap(ops, pod.metadata?.annotations, 'annotations', { [sidecarStatusAnnotation]: sidecarStatus() });
  addToMap(ops, pod.metadata?.labels, 'labels', sidecarLabels(pod));
  return ops;
}

function addToMap(
  ops: JsonPatchOperation[],
  existing: Record<string, string> | undefined,
  field: 'annotations' | 'labels',
  entries: Record<string, string>,
): void {
  if (Object.keys(entries).length === 0) return;
  if (existing === undefined || existing === null) {
    ops.push({ op: 'add', path: pointer('metadata', field), value: entries });
    return;
  }
  for (const [k, v] of Object.entries(entries)) ops.push({ op: 'add', path: pointer('metadata', field, k), value: v });
}

// The mesh model: every watched object in, everything the proxies and the status writer need
// out. Pure: same inputs, same model; no I/O, no clock.
import { typeUrls, type Address, type Authorization, type Port, type ProxyType, type Service, type WaypointConfig, type Workload } from '@ambient/api';
import { matchesLabelMap } from '@ambient/api/kube';
import { compileL4Policy } from './authorization-policy.ts';
import type { KubeObject, MeshInputs, MeshOptions } from './inputs.ts';
import { labelsOf, nameOf, namespaceOf } from './kube-object.ts';
import type { ObjectStatus } from './object-status.ts';
import { indexPeerAuthentications, staticStrictAuthorization, staticStrictPolicyName } from './peer-authentication.ts';
import { buildService, selectedPods, serviceBinding, serviceKey, serviceStatus } from './services.ts';
import { checkExtensions } from './extensions.ts';
import { buildWaypointConfigs, type SidecarView } from './waypoint-config.ts';
import { findWaypoints, type Waypoint } from './waypoints.ts';
import { buildWorkload, hasNativeTunnel, isTerminal, podAddress } from './workloads.ts';
import { resolvePortsForPod } from './service-ports.ts';

export type { Condition } from './conditions.ts';
export type { ObjectStatus, RouteParentStatus } from './object-status.ts';
export type { MeshInputs, MeshOptions } from './inputs.ts';
export type { SidecarView } from './waypoint-config.ts';

export interface MeshModel {
  workloads: Map<string, Workload>; // by pod uid
  services: Map<string, Service>; // by "<namespace>/<hostname>"
  authorizations: Map<string, Authorization>; // by "<namespace>/<name>"
  waypoints: Map<string, WaypointConfig>; // by "<namespace>/<gateway name>"
  /** Every Gateway that is a waypoint (usable or not), by "<namespace>/<name>": the one rule
   *  the waypoint controller deploys from. */
  waypointGateways: Map<string, Waypoint>;
  /** Pods with an injected sidecar (not terminal), by "<namespace>/<pod name>": the WaypointConfig
   *  their sidecar gets. All of them share sidecarView's services and extensions (same objects). */
  sidecars: Map<string, WaypointConfig>;
  sidecarView: SidecarView;
  statuses: ObjectStatus[];
  /** The accepted version of each mesh.ambient.dev policy: the next model's fallback for an invalid edit. */
  acceptedExtensions: Map<string, KubeObject>;
  /** What the next model may reuse from this one (see ModelMemo). */
  memo: ModelMemo;
}

/**
 * Incremental updates. A Workload depends on its pod and on the namespaces, Services, Gateways and
 * policies; a Service on its object, the pods it selects and the same context. The informers
 * keep an object's identity until it changes, so while those context inputs are the very same
 * objects as for the previous model, a pod or Service whose object (and, for a Service, whose
 * selected pods) are the same yields the previous Workload or Service object itself: nothing is
 * rebuilt, and MeshState does not hash it again. One pod change then rebuilds one Workload and
 * the Services selecting that pod; any change to the context rebuilds everything.
 */
export interface ModelMemo {
  context: readonly (readonly KubeObject[])[];
  workloads: WeakMap<KubeObject, Workload>;
  services: WeakMap<KubeObject, { pods: readonly KubeObject[]; service: Service }>;
}

/** The inputs Workloads and Services depend on besides their own objects (and the pods). */
function memoContext(inputs: MeshInputs): readonly (readonly KubeObject[])[] {
  return [inputs.namespaces, inputs.services, inputs.gateways, inputs.authorizationPolicies, inputs.peerAuthentications];
}

function sameObjects(a: readonly KubeObject[], b: readonly KubeObject[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function reusableMemo(previous: ModelMemo | undefined, context: readonly (readonly KubeObject[])[]): ModelMemo | undefined {
  if (previous === undefined) return undefined;
  return context.every((list, i) => sameObjects(list, previous.context[i]!)) ? previous : undefined;
}

/** `previous` is the model this one replaces (its accepted policies stay in force over invalid edits). */
export function buildMeshModel(
  inputs: MeshInputs,
  opts: MeshOptions,
  previous?: Pick<MeshModel, 'acceptedExtensions'> & Partial<Pick<MeshModel, 'memo'>>,
): MeshModel {
  const context = memoContext(inputs);
  const reuse = reusableMemo(previous?.memo, context);
  // Entries stay valid while the context does; those of replaced objects go with the objects.
  const memo: ModelMemo = reuse ? { ...reuse, context } : { context, workloads: new WeakMap(), services: new WeakMap() };
  const extensions = checkExtensions(inputs.extensions, previous?.acceptedExtensions ?? new Map());
  const statuses: ObjectStatus[] = [...extensions.statuses];
  const namespaces = new Map(inputs.namespaces.map((ns) => [nameOf(ns), ns]));
  const podsByNamespace = groupByNamespace(inputs.pods);
  const podsByLabel = indexByLabel(inputs.pods);
  const waypoints = findWaypoints(inputs, opts);

  // L4 policies first: workloads list the selector-scoped ones that apply to them.
  const authorizations = new Map<string, Authorization>();
  const selectorPolicies: { key: string; namespace: string; selector: Record<string, string> }[] = [];
  for (const policy of inputs.authorizationPolicies) {
    const compiled = compileL4Policy(policy, opts);
    if (compiled.status) statuses.push(compiled.status);
    if (!compiled.authorization) continue;
    const key = `${compiled.authorization.namespace}/${compiled.authorization.name}`;
    authorizations.set(key, compiled.authorization);
    if (compiled.selector) selectorPolicies.push({ key, namespace: compiled.authorization.namespace, selector: compiled.selector });
  }
  const peerAuthn = indexPeerAuthentications(inputs.peerAuthentications, opts);
  statuses.push(...peerAuthn.statuses);
  const strictKey = `${opts.rootNamespace}/${staticStrictPolicyName}`;
  let anyStrict = false;

  // Services, and the reverse index pod → services selecting it (ports resolved only for the
  // Workloads that are built, not for those the memo gives back).
  const services = new Map<string, Service>();
  const selections: { key: string; svc: KubeObject; pods: readonly KubeObject[] }[] = [];
  const bindings = new Map<string, ReturnType<typeof serviceBinding>>();
  for (const svc of inputs.services) {
    const pods = selectedPods(svc, candidatePods(svc, podsByLabel, podsByNamespace));
    const binding = serviceBinding(svc, namespaces.get(namespaceOf(svc)), waypoints);
    const key = serviceKey(svc, opts);
    const known = reuse?.services.get(svc);
    let service: Service;
    if (known !== undefined && sameObjects(known.pods, pods)) service = known.service;
    else memo.services.set(svc, { pods, service: (service = buildService(svc, pods, binding, opts)) });
    services.set(key, service);
    bindings.set(key, binding);
    const status = serviceStatus(svc, binding);
    if (status) statuses.push(status);
    selections.push({ key, svc, pods });
  }
  // Built only when many Workloads are (a model from scratch); a few changed pods scan the selections.
  let servicesOfPod: Map<KubeObject, [string, KubeObject][]> | undefined;
  const selecting = (pod: KubeObject): [string, KubeObject][] => {
    if (reuse) return selections.filter((s) => s.pods.includes(pod)).map((s) => [s.key, s.svc]);
    if (servicesOfPod === undefined) {
      servicesOfPod = new Map();
      for (const s of selections)
        for (const p of s.pods) {
          const list = servicesOfPod.get(p);
          if (list) list.push([s.key, s.svc]);
          else servicesOfPod.set(p, [[s.key, s.svc]]);
        }
    }
    return servicesOfPod.get(pod) ?? [];
  };
  const strictPossible = inputs.peerAuthentications.length > 0;

  const workloads = new Map<string, Workload>();
  for (const pod of inputs.pods) {
    if (podAddress(pod) === undefined) continue;
    const known = reuse?.workloads.get(pod);
    if (known !== undefined) {
      workloads.set(known.uid, known);
      if (strictPossible && known.authorizationPolicies?.includes(strictKey)) anyStrict = true;
      continue;
    }
    const workload = buildWorkload(pod, {
      opts,
      namespaces,
      waypoints,
      servicesOf: (p) => new Map(selecting(p).map(([key, svc]): [string, Port[]] => [key, resolvePortsForPod(svc, p)])),
      policiesOf: (p) => {
        const labels = labelsOf(p);
        const names = selectorPolicies
          .filter((sp) => (sp.namespace === namespaceOf(p) || sp.namespace === opts.rootNamespace) && matchesLabelMap(sp.selector, labels))
          .map((sp) => sp.key);
        if (peerAuthn.isStrict(p)) {
          names.push(strictKey);
          anyStrict = true;
        }
        return names.sort();
      },
    });
    if (workload) {
      memo.workloads.set(pod, workload);
      workloads.set(workload.uid, workload);
    }
  }
  if (anyStrict) authorizations.set(strictKey, staticStrictAuthorization(opts));

  const wp = buildWaypointConfigs({ ...inputs, extensions: extensions.delivered }, opts, { waypoints, services, bindings });
  statuses.push(...wp.statuses);
  const sidecars = new Map<string, WaypointConfig>();
  for (const pod of inputs.pods) {
    if (!hasNativeTunnel(pod) || isTerminal(pod)) continue;
    const namespace = namespaceOf(pod);
    const name = nameOf(pod);
    const serviceAccount = pod.spec?.serviceAccountName || 'default';
    sidecars.set(`${namespace}/${name}`, {
      namespace,
      name,
      identity: `spiffe://${opts.trustDomain}/ns/${namespace}/sa/${serviceAccount}`,
      waypointFor: 'service',
      services: wp.sidecarView.services,
      // L7 policies belong to waypoints (targetRefs); the sidecar enforces its pod's L4 policy
      // from the Authorization resources, as a ztunnel does.
      authorizations: [],
      extensions: wp.sidecarView.extensions,
    });
  }
  return {
    workloads,
    services,
    authorizations,
    waypoints: wp.configs,
    waypointGateways: waypoints,
    sidecars,
    sidecarView: wp.sidecarView,
    statuses,
    acceptedExtensions: extensions.accepted,
    memo,
  };
}

export interface ProxyIdentity {
  type: ProxyType;
  namespace: string;
  name: string;
}

/**
 * What one proxy may have, by resource name. ztunnel: every Address and Authorization (it serves
 * any destination on its node and checks policy there). A waypoint: its own WaypointConfig and
 * the Addresses of its namespace, of the services bound to it and of their route and mirror
 * backends, with the workloads behind them. A sidecar: what a ztunnel gets (it may call any
 * destination, and checks L4 policy for its pod) and its pod's WaypointConfig. The test proxy
 * lists the waypoints' configs, not the sidecars' (those are named by pod, and a pod may share a
 * Gateway's name). Unknown types get nothing.
 */
export function resourcesForProxy(model: MeshModel, proxy: ProxyIdentity, typeUrl: string): Map<string, object> {
  const out = new Map<string, object>();
  const all = proxy.type === 'test' || proxy.type === 'ztunnel' || proxy.type === 'sidecar';
  if (typeUrl === typeUrls.address) {
    if (all) {
      for (const [k, w] of model.workloads) out.set(k, workloadAddress(w));
      for (const [k, s] of model.services) out.set(k, serviceAddress(s));
    } else if (proxy.type === 'waypoint') {
      const self = `${proxy.namespace}/${proxy.name}`;
      const config = model.waypoints.get(self);
      const reached = config ? reachableHostnames(config) : new Set<string>();
      const uids = new Set<string>();
      for (const [k, s] of model.services) {
        if (s.namespace !== proxy.namespace && !reached.has(s.hostname)) continue;
        out.set(k, serviceAddress(s));
        for (const e of s.endpoints ?? []) uids.add(e.workloadUid);
      }
      for (const [k, w] of model.workloads) if (w.namespace === proxy.namespace || uids.has(k)) out.set(k, workloadAddress(w));
    }
  } else if (typeUrl === typeUrls.authorization) {
    if (all) for (const [k, a] of model.authorizations) out.set(k, a);
  } else if (typeUrl === typeUrls.waypointConfig) {
    if (proxy.type === 'test') for (const [k, c] of model.waypoints) out.set(k, c);
    else if (proxy.type === 'waypoint' || proxy.type === 'sidecar') {
      const key = `${proxy.namespace}/${proxy.name}`;
      const c = (proxy.type === 'waypoint' ? model.waypoints : model.sidecars).get(key);
      if (c) out.set(key, c);
    }
  }
  return out;
}

// One Address per Workload or Service object, so that an object the model reused (ModelMemo)
// is the same payload again and is not versioned again.
const workloadAddresses = new WeakMap<Workload, Address>();
const serviceAddresses = new WeakMap<Service, Address>();

function workloadAddress(workload: Workload): Address {
  let a = workloadAddresses.get(workload);
  if (a === undefined) workloadAddresses.set(workload, (a = { workload }));
  return a;
}

function serviceAddress(service: Service): Address {
  let a = serviceAddresses.get(service);
  if (a === undefined) serviceAddresses.set(service, (a = { service }));
  return a;
}

/**
 * Hostnames a waypoint sends to: its bound services and every route backend and mirror backend
 * of theirs (these may live in a bound service's namespace, not the waypoint's).
 */
function reachableHostnames(config: WaypointConfig): Set<string> {
  const out = new Set<string>();
  for (const s of config.services ?? []) {
    out.add(s.hostname);
    for (const route of s.routes ?? [])
      for (const rule of route.rules ?? []) {
        for (const b of rule.backends ?? []) out.add(b.hostname);
        for (const f of rule.filters ?? []) if ('requestMirror' in f) out.add(f.requestMirror.backend.hostname);
      }
  }
  return out;
}

function groupByNamespace(objects: readonly KubeObject[]): Map<string, KubeObject[]> {
  const m = new Map<string, KubeObject[]>();
  for (const o of objects) {
    const ns = namespaceOf(o);
    const list = m.get(ns);
    if (list) list.push(o);
    else m.set(ns, [o]);
  }
  return m;
}

/** Pods per "<namespace>/<label>=<value>", so selecting a Service's pods does not scan its namespace. */
function indexByLabel(pods: readonly KubeObject[]): Map<string, KubeObject[]> {
  const index = new Map<string, KubeObject[]>();
  for (const pod of pods) {
    for (const [k, v] of Object.entries(labelsOf(pod))) {
      const key = `${namespaceOf(pod)}/${k}=${v}`;
      let list = index.get(key);
      if (!list) index.set(key, (list = []));
      list.push(pod);
    }
  }
  return index;
}

/** The smallest set of pods that can match a Service's selector (selectedPods still checks all of it). */
function candidatePods(svc: KubeObject, byLabel: Map<string, KubeObject[]>, byNamespace: Map<string, KubeObject[]>): readonly KubeObject[] {
  const selector = svc.spec?.selector as Record<string, string> | undefined;
  const entries = Object.entries(selector ?? {});
  if (entries.length === 0) return byNamespace.get(namespaceOf(svc)) ?? [];
  let best: readonly KubeObject[] | undefined;
  for (const [k, v] of entries) {
    const list = byLabel.get(`${namespaceOf(svc)}/${k}=${v}`) ?? [];
    if (!best || list.length < best.length) best = list;
  }
  return best!;
}

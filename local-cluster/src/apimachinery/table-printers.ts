// kubectl's default columns for the built-in kinds, ported from
// kubernetes/pkg/printers/internalversion. A Table carries every column; kubectl hides
// priority-1 columns unless `-o wide`.

import { age } from './human-duration.ts';
import { isObject, type JsonObject } from './json-value.ts';
import type { KubeObject } from './types.ts';

export interface ColumnDefinition {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

export interface Printer {
  columns: ColumnDefinition[];
  cells(obj: KubeObject, now: Date): unknown[];
}

export function column(name: string, type = 'string', priority = 0, format = '', description = ''): ColumnDefinition {
  return { name, type, format, description, priority };
}

export const nameColumn = column(
  'Name',
  'string',
  0,
  'name',
  'Name must be unique within a namespace. More info: http://kubernetes.io/docs/user-guide/identifiers#names',
);
const ageColumn = column('Age', 'string', 0, '', 'CreationTimestamp is a timestamp representing the server time when this object was created.');

const obj = (v: unknown): JsonObject => (isObject(v) ? v : {});
const list = (v: unknown): JsonObject[] => (Array.isArray(v) ? v.filter(isObject) : []);
const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const orNone = (s: string): string => (s === '' ? '<none>' : s);

function created(o: KubeObject, now: Date): string {
  return age(o.metadata.creationTimestamp, now);
}

function formatLabels(labels: unknown): string {
  const entries = Object.entries(obj(labels)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return orNone(entries.map(([k, v]) => `${k}=${String(v)}`).join(','));
}

function formatLabelSelector(selector: unknown): string {
  const sel = obj(selector);
  const parts: string[] = Object.entries(obj(sel.matchLabels)).map(([k, v]) => `${k}=${String(v)}`);
  for (const e of list(sel.matchExpressions)) {
    const values = Array.isArray(e.values) ? e.values.join(',') : '';
    switch (e.operator) {
      case 'In':
        parts.push(`${str(e.key)} in (${values})`);
        break;
      case 'NotIn':
        parts.push(`${str(e.key)} notin (${values})`);
        break;
      case 'Exists':
        parts.push(str(e.key));
        break;
      case 'DoesNotExist':
        parts.push(`!${str(e.key)}`);
        break;
    }
  }
  return orNone(parts.join(','));
}

function firstN(items: string[], n: number): string {
  if (items.length <= n) return items.join(',');
  return `${items.slice(0, n).join(',')} + ${items.length - n} more...`;
}

function podStatus(pod: KubeObject): { reason: string; restarts: number; lastRestart: string | undefined } {
  const spec = obj(pod.spec);
  const status = obj(pod.status);
  let reason = str(status.reason) || str(status.phase);
  let restarts = 0;
  let lastRestart: string | undefined;
  const noteRestart = (cs: JsonObject): void => {
    restarts += num(cs.restartCount);
    const finished = str(obj(obj(cs.lastState).terminated).finishedAt);
    if (finished && (!lastRestart || finished > lastRestart)) lastRestart = finished;
  };
  const initStatuses = list(status.initContainerStatuses);
  const initCount = list(spec.initContainers).length;
  let initializing = false;
  for (const [i, cs] of initStatuses.entries()) {
    noteRestart(cs);
    const state = obj(cs.state);
    const terminated = isObject(state.terminated) ? state.terminated : undefined;
    const waiting = isObject(state.waiting) ? state.waiting : undefined;
    if (terminated && num(terminated.exitCode) === 0) continue;
    if (!terminated && cs.started === true && list(spec.initContainers)[i]?.restartPolicy === 'Always') continue;
    if (terminated) {
      reason = terminated.reason
        ? `Init:${str(terminated.reason)}`
        : num(terminated.signal) !== 0
          ? `Init:Signal:${num(terminated.signal)}`
          : `Init:ExitCode:${num(terminated.exitCode)}`;
    } else if (waiting && str(waiting.reason) !== '' && waiting.reason !== 'PodInitializing') {
      reason = `Init:${str(waiting.reason)}`;
    } else {
      reason = `Init:${i}/${initCount}`;
    }
    initializing = true;
    break;
  }
  if (!initializing) {
    let hasRunning = false;
    for (const cs of [...list(status.containerStatuses)].reverse()) {
      noteRestart(cs);
      const state = obj(cs.state);
      const terminated = isObject(state.terminated) ? state.terminated : undefined;
      const waiting = isObject(state.waiting) ? state.waiting : undefined;
      if (waiting && str(waiting.reason) !== '') reason = str(waiting.reason);
      else if (terminated && str(terminated.reason) !== '') reason = str(terminated.reason);
      else if (terminated) reason = num(terminated.signal) !== 0 ? `Signal:${num(terminated.signal)}` : `ExitCode:${num(terminated.exitCode)}`;
      else if (cs.ready === true && isObject(state.running)) hasRunning = true;
    }
    if (reason === 'Completed' && hasRunning) {
      const ready = list(status.conditions).some((c) => c.type === 'Ready' && c.status === 'True');
      reason = ready ? 'Running' : 'NotReady';
    }
  }
  if (pod.metadata.deletionTimestamp) reason = status.reason === 'NodeLost' ? 'Unknown' : 'Terminating';
  return { reason, restarts, lastRestart };
}

const pod: Printer = {
  columns: [
    nameColumn,
    column('Ready'),
    column('Status'),
    column('Restarts'),
    ageColumn,
    column('IP', 'string', 1),
    column('Node', 'string', 1),
    column('Nominated Node', 'string', 1),
    column('Readiness Gates', 'string', 1),
  ],
  cells(o, now) {
    const spec = obj(o.spec);
    const status = obj(o.status);
    const containers = list(spec.containers).length;
    const ready = list(status.containerStatuses).filter((c) => c.ready === true).length;
    const { reason, restarts, lastRestart } = podStatus(o);
    const restartsCell = restarts !== 0 && lastRestart ? `${restarts} (${age(lastRestart, now)} ago)` : String(restarts);
    const gates = list(spec.readinessGates);
    const gateCell =
      gates.length === 0
        ? '<none>'
        : `${gates.filter((g) => list(status.conditions).some((c) => c.type === g.conditionType && c.status === 'True')).length}/${gates.length}`;
    return [
      o.metadata.name,
      `${ready}/${containers}`,
      reason,
      restartsCell,
      created(o, now),
      orNone(str(status.podIP)),
      orNone(str(spec.nodeName)),
      orNone(str(status.nominatedNodeName)),
      gateCell,
    ];
  },
};

function serviceExternalIp(spec: JsonObject, status: JsonObject): string {
  const external = Array.isArray(spec.externalIPs) ? (spec.externalIPs as string[]) : [];
  switch (spec.type) {
    case 'LoadBalancer': {
      const ingress = list(obj(status.loadBalancer).ingress)
        .map((i) => str(i.ip) || str(i.hostname))
        .filter((s) => s !== '');
      const all = [...ingress, ...external];
      return all.length > 0 ? all.join(',') : '<pending>';
    }
    case 'ExternalName':
      return str(spec.externalName);
    default:
      return orNone(external.join(','));
  }
}

const service: Printer = {
  columns: [nameColumn, column('Type'), column('Cluster-IP'), column('External-IP'), column('Port(s)'), ageColumn, column('Selector', 'string', 1)],
  cells(o, now) {
    const spec = obj(o.spec);
    const ports = list(spec.ports).map((p) => `${num(p.port)}${p.nodePort ? `:${num(p.nodePort)}` : ''}/${str(p.protocol) || 'TCP'}`);
    return [
      o.metadata.name,
      str(spec.type) || 'ClusterIP',
      orNone(str(spec.clusterIP)),
      serviceExternalIp(spec, obj(o.status)),
      orNone(ports.join(',')),
      created(o, now),
      formatLabels(spec.selector),
    ];
  },
};

function containersAndImages(o: KubeObject): [string, string] {
  const containers = list(obj(obj(obj(o.spec).template).spec).containers);
  return [orNone(containers.map((c) => str(c.name)).join(',')), orNone(containers.map((c) => str(c.image)).join(','))];
}

const deployment: Printer = {
  columns: [
    nameColumn,
    column('Ready'),
    column('Up-to-date', 'integer'),
    column('Available', 'integer'),
    ageColumn,
    column('Containers', 'string', 1),
    column('Images', 'string', 1),
    column('Selector', 'string', 1),
  ],
  cells(o, now) {
    const spec = obj(o.spec);
    const status = obj(o.status);
    const desired = typeof spec.replicas === 'number' ? spec.replicas : 1;
    return [
      o.metadata.name,
      `${num(status.readyReplicas)}/${desired}`,
      num(status.updatedReplicas),
      num(status.availableReplicas),
      created(o, now),
      ...containersAndImages(o),
      formatLabelSelector(spec.selector),
    ];
  },
};

const daemonSet: Printer = {
  columns: [
    nameColumn,
    column('Desired', 'integer'),
    column('Current', 'integer'),
    column('Ready', 'integer'),
    column('Up-to-date', 'integer'),
    column('Available', 'integer'),
    column('Node Selector'),
    ageColumn,
    column('Containers', 'string', 1),
    column('Images', 'string', 1),
    column('Selector', 'string', 1),
  ],
  cells(o, now) {
    const status = obj(o.status);
    return [
      o.metadata.name,
      num(status.desiredNumberScheduled),
      num(status.currentNumberScheduled),
      num(status.numberReady),
      num(status.updatedNumberScheduled),
      num(status.numberAvailable),
      formatLabels(obj(obj(obj(o.spec).template).spec).nodeSelector),
      created(o, now),
      ...containersAndImages(o),
      formatLabelSelector(obj(o.spec).selector),
    ];
  },
};

const replicaSet: Printer = {
  columns: [
    nameColumn,
    column('Desired', 'integer'),
    column('Current', 'integer'),
    column('Ready', 'integer'),
    ageColumn,
    column('Containers', 'string', 1),
    column('Images', 'string', 1),
    column('Selector', 'string', 1),
  ],
  cells(o, now) {
    const status = obj(o.status);
    const spec = obj(o.spec);
    return [
      o.metadata.name,
      typeof spec.replicas === 'number' ? spec.replicas : 1,
      num(status.replicas),
      num(status.readyReplicas),
      created(o, now),
      ...containersAndImages(o),
      formatLabelSelector(spec.selector),
    ];
  },
};

function nodeStatus(o: KubeObject): string {
  const ready = list(obj(o.status).conditions).find((c) => c.type === 'Ready');
  let s = ready?.status === 'True' ? 'Ready' : ready?.status === 'False' ? 'NotReady' : 'Unknown';
  if (obj(o.spec).unschedulable === true) s += ',SchedulingDisabled';
  return s;
}

function nodeRoles(o: KubeObject): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(o.metadata.labels ?? {})) {
    if (k.startsWith('node-role.kubernetes.io/') && k.length > 'node-role.kubernetes.io/'.length) roles.add(k.slice('node-role.kubernetes.io/'.length));
    else if (k === 'kubernetes.io/role' && v !== '') roles.add(v);
  }
  return orNone([...roles].sort().join(','));
}

const node: Printer = {
  columns: [
    nameColumn,
    column('Status'),
    column('Roles'),
    ageColumn,
    column('Version'),
    column('Internal-IP', 'string', 1),
    column('External-IP', 'string', 1),
    column('OS-Image', 'string', 1),
    column('Kernel-Version', 'string', 1),
    column('Container-Runtime', 'string', 1),
  ],
  cells(o, now) {
    const status = obj(o.status);
    const info = obj(status.nodeInfo);
    const address = (type: string): string =>
      orNone(
        list(status.addresses)
          .filter((a) => a.type === type)
          .map((a) => str(a.address))
          .join(','),
      );
    return [
      o.metadata.name,
      nodeStatus(o),
      nodeRoles(o),
      created(o, now),
      str(info.kubeletVersion),
      address('InternalIP'),
      address('ExternalIP'),
      orNone(str(info.osImage)),
      orNone(str(info.kernelVersion)),
      orNone(str(info.containerRuntimeVersion)),
    ];
  },
};

const namespace: Printer = {
  columns: [nameColumn, column('Status'), ageColumn],
  cells: (o, now) => [o.metadata.name, str(obj(o.status).phase) || 'Active', created(o, now)],
};

const endpointSlice: Printer = {
  columns: [nameColumn, column('AddressType'), column('Ports'), column('Endpoints'), ageColumn],
  cells(o, now) {
    const ports = list(o.ports).map((p) => (typeof p.port === 'number' ? String(p.port) : '<unset>'));
    const addresses = list(o.endpoints).flatMap((e) => (Array.isArray(e.addresses) ? (e.addresses as string[]) : []));
    return [
      o.metadata.name,
      str(o.addressType),
      ports.length > 0 ? ports.join(',') : '<unset>',
      addresses.length > 0 ? firstN(addresses, 3) : '<unset>',
      created(o, now),
    ];
  },
};

const endpoints: Printer = {
  columns: [nameColumn, column('Endpoints'), ageColumn],
  cells(o, now) {
    const items = list(o.subsets).flatMap((s) => {
      const ports = list(s.ports).map((p) => num(p.port));
      return list(s.addresses).flatMap((a) => (ports.length > 0 ? ports.map((p) => `${str(a.ip)}:${p}`) : [str(a.ip)]));
    });
    return [o.metadata.name, orNone(firstN(items, 3)), created(o, now)];
  },
};

const event: Printer = {
  columns: [
    column('Last Seen'),
    column('Type'),
    column('Reason'),
    column('Object'),
    column('Subobject', 'string', 1),
    column('Source', 'string', 1),
    column('Message'),
    column('First Seen', 'string', 1),
    column('Count', 'integer', 1),
    column('Name', 'string', 1, 'name'),
  ],
  cells(o, now) {
    const first = o.firstTimestamp ? age(o.firstTimestamp, now) : age(o.eventTime, now);
    let last = o.lastTimestamp ? age(o.lastTimestamp, now) : first;
    let count = num(o.count) || 1;
    if (isObject(o.series)) {
      last = age(o.series.lastObservedTime, now);
      count = num(o.series.count);
    }
    const involved = obj(o.involvedObject);
    const kind = str(involved.kind).toLowerCase();
    const target = str(involved.name) ? `${kind}/${str(involved.name)}` : kind;
    const source = obj(o.source);
    const src = str(source.component)
      ? `${str(source.component)}${str(source.host) ? `, ${str(source.host)}` : ''}`
      : `${str(o.reportingComponent ?? o.reportingController)}${str(o.reportingInstance) ? `, ${str(o.reportingInstance)}` : ''}`;
    return [last, str(o.type), str(o.reason), target, str(involved.fieldPath), src, str(o.message).trim(), first, count, o.metadata.name];
  },
};

const configMap: Printer = {
  columns: [nameColumn, column('Data', 'integer'), ageColumn],
  cells: (o, now) => [o.metadata.name, Object.keys(obj(o.data)).length + Object.keys(obj(o.binaryData)).length, created(o, now)],
};

const secret: Printer = {
  columns: [nameColumn, column('Type'), column('Data', 'integer'), ageColumn],
  cells: (o, now) => [o.metadata.name, str(o.type), Object.keys(obj(o.data)).length, created(o, now)],
};

const serviceAccount: Printer = {
  columns: [nameColumn, column('Secrets', 'integer'), ageColumn],
  cells: (o, now) => [o.metadata.name, list(o.secrets).length, created(o, now)],
};

const lease: Printer = {
  columns: [nameColumn, column('Holder'), ageColumn],
  cells: (o, now) => [o.metadata.name, str(obj(o.spec).holderIdentity), created(o, now)],
};

// The generic printer the API server uses for CRDs themselves.
const customResourceDefinition: Printer = {
  columns: [nameColumn, column('Created At', 'date', 0, '', 'CreationTimestamp is a timestamp representing the server time when this object was created.')],
  cells: (o) => [o.metadata.name, o.metadata.creationTimestamp ?? null],
};

const webhookConfiguration: Printer = {
  columns: [nameColumn, column('Webhooks', 'integer', 0, '', 'Webhooks indicates the number of webhooks registered in this configuration'), ageColumn],
  cells: (o, now) => [o.metadata.name, list(o.webhooks).length, created(o, now)],
};

export const defaultPrinter: Printer = {
  columns: [nameColumn, ageColumn],
  cells: (o, now) => [o.metadata.name, created(o, now)],
};

const printers: Record<string, Printer> = {
  Pod: pod,
  Service: service,
  Deployment: deployment,
  DaemonSet: daemonSet,
  ReplicaSet: replicaSet,
  Node: node,
  Namespace: namespace,
  EndpointSlice: endpointSlice,
  Endpoints: endpoints,
  Event: event,
  ConfigMap: configMap,
  Secret: secret,
  ServiceAccount: serviceAccount,
  Lease: lease,
  CustomResourceDefinition: customResourceDefinition,
  MutatingWebhookConfiguration: webhookConfiguration,
  ValidatingWebhookConfiguration: webhookConfiguration,
};

export function builtinPrinter(kind: string): Printer {
  return Object.hasOwn(printers, kind) ? printers[kind]! : defaultPrinter;
}

// Defaulting and validation of built-in kinds: the minimal but real subset of what the
// Kubernetes registry strategies do, as pure functions over plain objects.
import type { StatusCause } from '../apimachinery/errors.ts';
import { labelSelectorFromObject } from '../apimachinery/label-selector.ts';
import type { KubeObject } from '../apimachinery/types.ts';
import { defaultWebhookConfiguration, webhookConfigurationCauses } from './webhook-configuration.ts';

type Obj = Record<string, unknown>;

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Kinds whose names must be DNS-1123 labels rather than subdomains. */
const LABEL_NAMED = new Set(['Namespace', 'Service']);

/** RBAC kinds take any name usable as a path segment (kube's ValidateRBACName), so `system:node` is one. */
const PATH_SEGMENT_NAMED = new Set(['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding']);

const asObj = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const asArray = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);

export function nameCauses(kind: string, name: string | undefined): StatusCause[] {
  if (!name) return [{ reason: 'FieldValueRequired', field: 'metadata.name', message: 'Required value: name or generateName is required' }];
  if (PATH_SEGMENT_NAMED.has(kind)) {
    const why =
      name === '.' || name === '..' ? `may not be '${name}'` : name.includes('/') ? "may not contain '/'" : name.includes('%') ? "may not contain '%'" : '';
    if (why) return [{ reason: 'FieldValueInvalid', field: 'metadata.name', message: `Invalid value: "${name}": ${why}` }];
  } else if (LABEL_NAMED.has(kind)) {
    if (name.length > 63 || !DNS1123_LABEL.test(name)) {
      return [
        {
          reason: 'FieldValueInvalid',
          field: 'metadata.name',
          message: `Invalid value: "${name}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
        },
      ];
    }
  } else if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    return [
      {
        reason: 'FieldValueInvalid',
        field: 'metadata.name',
        message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
      },
    ];
  }
  return [];
}

function defaultPodSpec(spec: Obj): void {
  spec.restartPolicy ??= 'Always';
  spec.serviceAccountName ??= spec.serviceAccount ?? 'default';
  spec.serviceAccount = spec.serviceAccountName;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.terminationGracePeriodSeconds ??= 30;
  for (const c of [...asArray(spec.initContainers), ...asArray(spec.containers)]) {
    for (const p of asArray(c.ports)) p.protocol ??= 'TCP';
    const image = typeof c.image === 'string' ? c.image : '';
    c.imagePullPolicy ??= image.endsWith(':latest') || !/:[^/]+$/.test(image) ? 'Always' : 'IfNotPresent';
    c.terminationMessagePath ??= '/dev/termination-log';
    c.terminationMessagePolicy ??= 'File';
  }
}

/** Applies the defaults the real API server fills in at create/update. Mutates `obj`. */
export function applyDefaults(obj: KubeObject): void {
  const spec = asObj(obj.spec);
  switch (obj.kind) {
    case 'Pod':
      defaultPodSpec(spec);
      obj.spec = spec;
      break;
    case 'Service':
      spec.type ??= 'ClusterIP';
      spec.sessionAffinity ??= 'None';
      for (const p of asArray(spec.ports)) {
        p.protocol ??= 'TCP';
        p.targetPort ??= p.port;
      }
      obj.spec = spec;
      obj.status ??= { loadBalancer: {} };
      break;
    case 'Namespace':
      spec.finalizers ??= ['kubernetes'];
      obj.spec = spec;
      obj.status = { ...asObj(obj.status), phase: asObj(obj.status).phase ?? 'Active' };
      obj.metadata.labels = { ...obj.metadata.labels, 'kubernetes.io/metadata.name': obj.metadata.name ?? '' };
      break;
    case 'Deployment':
    case 'ReplicaSet':
    case 'DaemonSet': {
      if (obj.kind !== 'DaemonSet') spec.replicas ??= 1;
      if (obj.kind === 'Deployment') {
        spec.strategy ??= { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } };
        spec.progressDeadlineSeconds ??= 600;
      }
      if (obj.kind === 'DaemonSet') spec.updateStrategy ??= { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } };
      if (obj.kind !== 'ReplicaSet') spec.revisionHistoryLimit ??= 10;
      const template = asObj(spec.template);
      template.spec = asObj(template.spec);
      defaultPodSpec(template.spec as Obj);
      spec.template = template;
      obj.spec = spec;
      break;
    }
    case 'Secret':
      obj.type ??= 'Opaque';
      break;
    case 'MutatingWebhookConfiguration':
    case 'ValidatingWebhookConfiguration':
      defaultWebhookConfiguration(obj);
      break;
  }
}

/** Validation causes for a built-in object; `old` is set for updates. */
export function validateBuiltin(obj: KubeObject, old: KubeObject | undefined): StatusCause[] {
  const causes = nameCauses(obj.kind, obj.metadata.name);
  const spec = asObj(obj.spec);
  const required = (field: string): void => {
    causes.push({ reason: 'FieldValueRequired', field, message: 'Required value' });
  };
  switch (obj.kind) {
    case 'Pod': {
      podSpecCauses(spec, 'spec', causes);
      const oldNode = old ? asObj(old.spec).nodeName : undefined;
      if (oldNode && spec.nodeName !== oldNode) {
        causes.push({
          reason: 'FieldValueForbidden',
          field: 'spec.nodeName',
          message: `Forbidden: pod updates may not change fields other than \`spec.containers[*].image\`, \`spec.activeDeadlineSeconds\`, \`spec.tolerations\` (only additions to existing tolerations) (nodeName is already "${String(oldNode)}")`,
        });
      }
      break;
    }
    case 'Service':
      asArray(spec.ports).forEach((p, i) => {
        if (typeof p.port !== 'number') required(`spec.ports[${i}].port`);
        else if (p.port < 1 || p.port > 65535) {
          causes.push({
            reason: 'FieldValueInvalid',
            field: `spec.ports[${i}].port`,
            message: `Invalid value: ${p.port}: must be between 1 and 65535, inclusive`,
          });
        }
      });
      if (asArray(spec.ports).length > 1) {
        asArray(spec.ports).forEach((p, i) => {
          if (!p.name) required(`spec.ports[${i}].name`);
        });
      }
      break;
    case 'Deployment':
    case 'ReplicaSet':
    case 'DaemonSet': {
      if (typeof spec.replicas === 'number' && spec.replicas < 0) {
        causes.push({ reason: 'FieldValueInvalid', field: 'spec.replicas', message: `Invalid value: ${spec.replicas}: must be greater than or equal to 0` });
      }
      const template = asObj(spec.template);
      const labels = asObj(asObj(template.metadata).labels) as Record<string, string>;
      const selector = asObj(spec.selector);
      if (spec.selector === undefined || (!selector.matchLabels && !selector.matchExpressions)) required('spec.selector');
      else if (!labelSelectorFromObject(selector as Parameters<typeof labelSelectorFromObject>[0])(labels)) {
        causes.push({
          reason: 'FieldValueInvalid',
          field: 'spec.template.metadata.labels',
          message: `Invalid value: ${JSON.stringify(labels)}: \`selector\` does not match template \`labels\``,
        });
      }
      podSpecCauses(asObj(template.spec), 'spec.template.spec', causes);
      break;
    }
    case 'MutatingWebhookConfiguration':
    case 'ValidatingWebhookConfiguration':
      causes.push(...webhookConfigurationCauses(obj));
      break;
  }
  return causes;
}

function podSpecCauses(spec: Obj, path: string, causes: StatusCause[]): void {
  const containers = asArray(spec.containers);
  if (containers.length === 0) {
    causes.push({ reason: 'FieldValueRequired', field: `${path}.containers`, message: 'Required value' });
    return;
  }
  containers.forEach((c, i) => {
    if (typeof c.name !== 'string' || c.name === '') {
      causes.push({ reason: 'FieldValueRequired', field: `${path}.containers[${i}].name`, message: 'Required value' });
    } else if (!DNS1123_LABEL.test(c.name)) {
      causes.push({
        reason: 'FieldValueInvalid',
        field: `${path}.containers[${i}].name`,
        message: `Invalid value: "${c.name}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'`,
      });
    }
    if (typeof c.image !== 'string' || c.image === '') {
      causes.push({ reason: 'FieldValueRequired', field: `${path}.containers[${i}].image`, message: 'Required value' });
    }
  });
}

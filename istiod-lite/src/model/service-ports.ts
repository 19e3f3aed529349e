// Service ports and their target ports as a given pod resolves them (a named targetPort is the
// pod's containerPort of that name; Kubernetes leaves the port out for pods that lack it).
import type { Port } from '@ambient/api';
import type { KubeObject, Manifest } from './inputs.ts';

export function servicePorts(svc: KubeObject): Port[] {
  const ports: Manifest[] = Array.isArray(svc.spec?.ports) ? svc.spec.ports : [];
  return ports
    .filter((p) => (p?.protocol ?? 'TCP') === 'TCP' && Number.isInteger(p?.port))
    .map((p) => {
      const port: Port = { servicePort: p.port, targetPort: typeof p.targetPort === 'number' ? p.targetPort : p.targetPort === undefined ? p.port : 0 };
      if (typeof p.name === 'string' && p.name !== '') port.name = p.name;
      if (typeof p.appProtocol === 'string') port.appProtocol = p.appProtocol;
      return port;
    });
}

/** The service's ports with targetPort resolved for this pod; unresolvable named ports are left out. */
export function resolvePortsForPod(svc: KubeObject, pod: KubeObject): Port[] {
  const specPorts: Manifest[] = Array.isArray(svc.spec?.ports) ? svc.spec.ports : [];
  const out: Port[] = [];
  for (const port of servicePorts(svc)) {
    const raw = specPorts.find((p) => p?.port === port.servicePort)?.targetPort;
    if (typeof raw === 'string' && !/^\d+$/.test(raw)) {
      const target = containerPort(pod, raw);
      if (target === undefined) continue;
      out.push({ ...port, targetPort: target });
    } else if (typeof raw === 'string') {
      out.push({ ...port, targetPort: Number(raw) });
    } else {
      out.push(port);
    }
  }
  return out;
}

function containerPort(pod: KubeObject, name: string): number | undefined {
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c?.ports ?? []) if (p?.name === name && Number.isInteger(p.containerPort)) return p.containerPort;
  }
  return undefined;
}

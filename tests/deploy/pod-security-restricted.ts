// The Pod Security Standards' `restricted` profile (which includes `baseline`), as
// https://kubernetes.io/docs/concepts/security/pod-security-standards/ lists its controls,
// checked on a pod template: each violation names its control and what breaks it, so a test
// can allow exactly the documented exceptions and nothing else.
import type { Container, PodSpec, SecurityContext } from './render.ts';

export interface Violation {
  control: string;
  detail: string;
}

const RESTRICTED_VOLUME_TYPES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
]);
const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);

/** Every `restricted` control the pod breaks (empty: it meets the profile). */
export function restrictedViolations(pod: PodSpec): Violation[] {
  const out: Violation[] = [];
  const add = (control: string, detail: string) => out.push({ control, detail });
  const containers: Container[] = [...(pod.initContainers ?? []), ...pod.containers];
  const podSc: SecurityContext & { sysctls?: { name: string }[] } = pod.securityContext ?? {};
  const each = (test: (sc: SecurityContext, c: Container) => boolean): Container[] => containers.filter((c) => test(c.securityContext ?? {}, c));
  const names = (cs: Container[]) => cs.map((c) => c.name).join(', ');

  // baseline
  for (const ns of ['hostNetwork', 'hostPID', 'hostIPC'] as const) if (pod[ns]) add('Host Namespaces', `${ns}: true`);
  if (podSc.windowsOptions?.hostProcess || each((sc) => sc.windowsOptions?.hostProcess === true).length) add('HostProcess', 'hostProcess: true');
  const privileged = each((sc) => sc.privileged === true);
  if (privileged.length) add('Privileged Containers', `privileged: ${names(privileged)}`);
  const hostPaths = (pod.volumes ?? []).filter((v) => 'hostPath' in v).map((v) => v.name);
  if (hostPaths.length) add('HostPath Volumes', `hostPath volumes: ${hostPaths.join(', ')}`);
  const hostPorts = containers.flatMap((c) => (c.ports ?? []).filter((p) => p.hostPort).map((p) => `${c.name}:${p.hostPort}`));
  if (hostPorts.length) add('Host Ports', `hostPort: ${hostPorts.join(', ')}`);
  const appArmor = [podSc, ...containers.map((c) => c.securityContext ?? {})].filter(
    (sc) => sc.appArmorProfile && !['RuntimeDefault', 'Localhost'].includes(sc.appArmorProfile.type),
  );
  if (appArmor.length) add('AppArmor', 'appArmorProfile other than RuntimeDefault or Localhost');
  const seLinux = [podSc, ...containers.map((c) => c.securityContext ?? {})].filter(
    (sc) => sc.seLinuxOptions && (!SELINUX_TYPES.has(sc.seLinuxOptions.type ?? '') || sc.seLinuxOptions.user || sc.seLinuxOptions.role),
  );
  if (seLinux.length) add('SELinux', 'seLinuxOptions with a custom type, user or role');
  const procMount = each((sc) => sc.procMount !== undefined && sc.procMount !== 'Default');
  if (procMount.length) add('/proc Mount Type', `procMount: ${names(procMount)}`);
  const unsafeSysctls = (podSc.sysctls ?? []).map((s) => s.name).filter((n) => !SAFE_SYSCTLS.has(n));
  if (unsafeSysctls.length) add('Sysctls', `sysctls: ${unsafeSysctls.join(', ')}`);

  // restricted
  const volumeTypes = (pod.volumes ?? []).flatMap((v) =>
    Object.keys(v)
      .filter((k) => k !== 'name' && !RESTRICTED_VOLUME_TYPES.has(k))
      .map((k) => `${v.name} (${k})`),
  );
  if (volumeTypes.length) add('Volume Types', `volumes: ${volumeTypes.join(', ')}`);
  const escalating = each((sc) => sc.allowPrivilegeEscalation !== false);
  if (escalating.length) add('Privilege Escalation', `allowPrivilegeEscalation is not false: ${names(escalating)}`);
  const rootAllowed = each((sc) => (sc.runAsNonRoot ?? podSc.runAsNonRoot) !== true);
  if (rootAllowed.length) add('Running as Non-root', `runAsNonRoot is not true: ${names(rootAllowed)}`);
  const uid0 = podSc.runAsUser === 0 ? containers : each((sc) => sc.runAsUser === 0);
  if (uid0.length) add('Running as Non-root user', `runAsUser 0: ${names(uid0)}`);
  const seccompOk = (type: string | undefined) => type === 'RuntimeDefault' || type === 'Localhost';
  const noSeccomp = each((sc) => !seccompOk(sc.seccompProfile?.type ?? podSc.seccompProfile?.type));
  if (noSeccomp.length) add('Seccomp', `seccompProfile not RuntimeDefault or Localhost: ${names(noSeccomp)}`);
  const notDropped = each((sc) => !(sc.capabilities?.drop ?? []).includes('ALL'));
  if (notDropped.length) add('Capabilities', `capabilities.drop lacks ALL: ${names(notDropped)}`);
  const added = [...new Set(containers.flatMap((c) => c.securityContext?.capabilities?.add ?? []).filter((cap) => cap !== 'NET_BIND_SERVICE'))];
  if (added.length) add('Capabilities', `capabilities.add: ${added.join(', ')}`);
  return out;
}

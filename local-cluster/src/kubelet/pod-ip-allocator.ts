// Pod IPs come from the node's /24: .1 is the node's gateway (cni0), .255 broadcast, so pods
// get .2–.254. An IP the pod already had (status.podIP, after a restart) is kept if free, so
// a reconciled pod keeps its address and endpoints stay valid.

export function allocatePodIp(podCidr: string, used: ReadonlySet<string>, preferred?: string): string | undefined {
  const m = /^(\d+\.\d+\.\d+)\.0\/24$/.exec(podCidr);
  if (!m) throw new Error(`unsupported pod cidr '${podCidr}': the local cluster allocates from a /24`);
  const prefix = m[1]!;
  if (preferred && !used.has(preferred) && preferred.startsWith(`${prefix}.`)) {
    const last = Number(preferred.slice(prefix.length + 1));
    if (Number.isInteger(last) && last >= 2 && last <= 254) return preferred;
  }
  for (let i = 2; i <= 254; i++) {
    const ip = `${prefix}.${i}`;
    if (!used.has(ip)) return ip;
  }
  return undefined;
}

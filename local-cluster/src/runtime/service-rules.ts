// kube-proxy's role (iptables mode) inside one node netns, as pure text for iptables-restore.
// Only chains we own (LC-*) are declared, so `iptables-restore --noflush` replaces them in one
// atomic transaction and leaves everything else in the netns alone.
import { createHash } from 'node:crypto';
import { isIPv4 } from 'node:net';

export interface ServiceRule {
  clusterIp: string;
  port: number;
  protocol: 'TCP' | 'UDP';
  endpoints: { ip: string; port: number }[];
}

/** Chains and rules already present in a netns, per table (from `iptables-save`). */
export type SavedTables = Record<string, { chains: string[]; rules: string[] }>;

export const servicesChain = 'LC-SERVICES';
export const postroutingChain = 'LC-POSTROUTING';
const svcPrefix = 'LC-SVC-';
const sepPrefix = 'LC-SEP-';

export function parseIptablesSave(text: string): SavedTables {
  const tables: SavedTables = {};
  let current: { chains: string[]; rules: string[] } | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) {
      current = { chains: [], rules: [] };
      tables[line.slice(1).trim()] = current;
    } else if (current && line.startsWith(':')) {
      current.chains.push(line.slice(1).split(' ')[0]!);
    } else if (current && line.startsWith('-A ')) {
      current.rules.push(line.trim());
    }
  }
  return tables;
}

function hash16(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16).toUpperCase();
}

function serviceKey(s: ServiceRule): string {
  return `${s.protocol}:${s.clusterIp}:${s.port}`;
}
export function serviceChainName(s: ServiceRule): string {
  return svcPrefix + hash16(serviceKey(s));
}
export function endpointChainName(s: ServiceRule, ep: { ip: string; port: number }): string {
  return sepPrefix + hash16(`${serviceKey(s)}>${ep.ip}:${ep.port}`);
}

function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`${what} has an invalid port: ${port}`);
}

/** Throws on the first malformed rule, naming it, so a bad batch changes nothing. */
export function validateServiceRules(services: ServiceRule[]): void {
  const seen = new Set<string>();
  for (const s of services) {
    const name = `service ${s.clusterIp}:${s.port}/${s.protocol}`;
    if (!isIPv4(s.clusterIp)) throw new TypeError(`${name} has an invalid cluster ip: ${JSON.stringify(s.clusterIp)}`);
    checkPort(s.port, name);
    if (s.protocol !== 'TCP' && s.protocol !== 'UDP') throw new TypeError(`${name} has an unsupported protocol: ${JSON.stringify(s.protocol)}`);
    if (seen.has(serviceKey(s))) throw new TypeError(`duplicate ${name}`);
    seen.add(serviceKey(s));
    for (const ep of s.endpoints) {
      if (!isIPv4(ep.ip)) throw new TypeError(`${name} has an endpoint with an invalid ip: ${JSON.stringify(ep.ip)}`);
      checkPort(ep.port, `${name} endpoint ${ep.ip}`);
    }
  }
}

function uniqueEndpoints(s: ServiceRule): { ip: string; port: number }[] {
  const byKey = new Map(s.endpoints.map((e) => [`${e.ip}:${e.port}`, e]));
  return [...byKey.values()].sort((a, b) => (a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1));
}

function hasJump(saved: SavedTables, table: string, from: string, to: string): boolean {
  return (saved[table]?.rules ?? []).some((r) => r.startsWith(`-A ${from} `) && r.endsWith(` -j ${to}`));
}

/**
 * The iptables-restore input (for `--noflush`) that makes the service rules exactly
 * `services`. `saved` (the netns' current `iptables-save`) tells which base jumps already
 * exist and which per-service chains are stale and must be removed.
 *
 * A ClusterIP:port with endpoints is DNATed to one of them, picked like kube-proxy does: rule
 * k of n matches with probability 1/(n-k), which makes the overall choice uniform. One without
 * endpoints is REJECTed in the filter table so clients fail fast (connection refused) instead
 * of timing out.
 */
export function renderServiceRules(services: ServiceRule[], saved: SavedTables = {}): string {
  validateServiceRules(services);
  const sorted = [...services].sort((a, b) => (serviceKey(a) < serviceKey(b) ? -1 : serviceKey(a) > serviceKey(b) ? 1 : 0));
  const natChains: string[] = [servicesChain];
  const natRules: string[] = [];
  const filterRules: string[] = [];
  for (const from of ['PREROUTING', 'OUTPUT']) {
    if (!hasJump(saved, 'nat', from, servicesChain)) natRules.push(`-A ${from} -j ${servicesChain}`);
  }
  for (const from of ['FORWARD', 'OUTPUT']) {
    if (!hasJump(saved, 'filter', from, servicesChain)) filterRules.push(`-A ${from} -j ${servicesChain}`);
  }
  for (const s of sorted) {
    const proto = s.protocol.toLowerCase();
    const match = `-d ${s.clusterIp}/32 -p ${proto} -m ${proto} --dport ${s.port}`;
    const endpoints = uniqueEndpoints(s);
    if (endpoints.length === 0) {
      filterRules.push(`-A ${servicesChain} ${match} -j REJECT --reject-with icmp-port-unreachable`);
      continue;
    }
    const svcChain = serviceChainName(s);
    natChains.push(svcChain);
    natRules.push(`-A ${servicesChain} ${match} -j ${svcChain}`);
    endpoints.forEach((ep, k) => {
      const sepChain = endpointChainName(s, ep);
      natChains.push(sepChain);
      const left = endpoints.length - k;
      const pick = left > 1 ? `-m statistic --mode random --probability ${(1 / left).toFixed(10)} ` : '';
      natRules.push(`-A ${svcChain} ${pick}-j ${sepChain}`);
      natRules.push(`-A ${sepChain} -p ${proto} -m ${proto} -j DNAT --to-destination ${ep.ip}:${ep.port}`);
    });
  }
  // Stale chains are declared too (which flushes them) so they can be deleted in the same
  // transaction, after LC-SERVICES no longer jumps to them.
  const wanted = new Set(natChains);
  const stale = (saved.nat?.chains ?? []).filter((c) => (c.startsWith(svcPrefix) || c.startsWith(sepPrefix)) && !wanted.has(c));
  return [
    '*nat',
    ...[...natChains, ...stale].map((c) => `:${c} - [0:0]`),
    ...natRules,
    ...stale.map((c) => `-X ${c}`),
    'COMMIT',
    '*filter',
    `:${servicesChain} - [0:0]`,
    ...filterRules,
    'COMMIT',
    '',
  ].join('\n');
}

/**
 * Static NAT of a node: service traffic from a pod to an endpoint on the same node is
 * masqueraded to the node's bridge address. Otherwise the endpoint would answer straight
 * across the bridge with its own address (never un-DNATed), and the client would drop the
 * reply; it also makes hairpin (a pod reaching itself through its ClusterIP) work.
 * Traffic between nodes keeps its source address: its replies come back through the
 * client's node, where conntrack reverses the DNAT.
 */
export function renderNodeBaseRules(podCidr: string, saved: SavedTables = {}): string {
  const lines = ['*nat', `:${postroutingChain} - [0:0]`];
  if (!hasJump(saved, 'nat', 'POSTROUTING', postroutingChain)) lines.push(`-A POSTROUTING -j ${postroutingChain}`);
  lines.push(`-A ${postroutingChain} -s ${podCidr} -d ${podCidr} -m conntrack --ctstate DNAT -j MASQUERADE`, 'COMMIT', '');
  return lines.join('\n');
}

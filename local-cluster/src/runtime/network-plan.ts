// Pure naming and addressing of the local cluster's network. Everything the cluster creates is
// named from the cluster id, so several clusters never collide and teardown finds it all by
// prefix, even after a crash.
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';

export const fabricBridgeIp = '10.250.0.254';
export const serviceCidr = '10.96.0.0/16';
export const maxNodeIndex = 253; // 10.250.0.254 is the fabric bridge

export function clusterIdFor(dataDir: string): string {
  return createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 6);
}

export function netnsPrefix(clusterId: string): string {
  return `lc${clusterId}-`;
}
export function fabricNetns(clusterId: string): string {
  return `lc${clusterId}-fabric`;
}
export function nodeNetns(clusterId: string, index: number): string {
  return `lc${clusterId}-node${index}`;
}
export function podNetns(clusterId: string, uid: string): string {
  return `lc${clusterId}-p${podKey(uid)}`;
}
export function netnsPath(netns: string): string {
  return `/run/netns/${netns}`;
}
/** The node's veth end in the fabric netns. */
export function nodeVeth(index: number): string {
  return `n${index}`;
}

/** 8 hex characters naming a pod: the uid's own prefix when it is a UUID (easy to match by
 *  eye in `ip netns list`), else a hash, so any uid string yields a valid interface name. */
export function podKey(uid: string): string {
  const hex = uid.replaceAll('-', '').toLowerCase();
  if (/^[0-9a-f]{8}/.test(hex)) return hex.slice(0, 8);
  return createHash('sha256').update(uid).digest('hex').slice(0, 8);
}

export function nodeIp(index: number): string {
  return `10.250.0.${index}`;
}
export function podCidr(index: number): string {
  return `10.244.${index}.0/24`;
}
export function podGateway(index: number): string {
  return `10.244.${index}.1`;
}

export function checkNodeIndex(index: number): void {
  if (!Number.isInteger(index) || index < 1 || index > maxNodeIndex) {
    throw new RangeError(`node index must be an integer from 1 to ${maxNodeIndex}, got ${index}`);
  }
}

/** A pod IP must be a host address of the node's /24 other than the gateway (.1). */
export function checkPodIp(ip: string, cidr: string): void {
  const base = cidr.split('/')[0]!.split('.').slice(0, 3).join('.');
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  const host = m ? Number(m[4]) : -1;
  if (!m || `${m[1]}.${m[2]}.${m[3]}` !== base || host < 2 || host > 254) {
    throw new RangeError(`pod ip ${JSON.stringify(ip)} is not a usable address of pod cidr ${cidr} (.2 to .254)`);
  }
}

// What the ambient-cni plugin forwards (see plugin/README.md) and the CNI shapes the agent reads
// from it: the network configuration (stdin) with the previous plugin's result, CNI_ARGS, and the
// error document a plugin prints. Pure; every failure is a CniError carrying its CNI error code.
import { MeshError } from '@ambient/api';

/** CNI spec error codes the agent uses (SPEC.md "Error"). */
export const cniErrorCodes = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnvironment: 4,
  ioFailure: 5,
  decodeFailure: 6,
  invalidConfig: 7,
  tryAgainLater: 11,
} as const;

export class CniError extends MeshError<'ERR_CNI'> {
  readonly cniCode: number;
  readonly details: string;
  constructor(cniCode: number, message: string, details = '') {
    super('ERR_CNI', message);
    this.cniCode = cniCode;
    this.details = details;
  }
}

/** One plugin invocation, as the plugin forwards it: its CNI_* variables and its stdin. */
export interface PluginRequest {
  command: string;
  containerId: string;
  netns: string;
  ifName: string;
  args: string;
  path: string;
  stdin: string;
}

export interface CniIp {
  address: string;
  gateway?: string;
  interface?: number;
}
export interface CniResult {
  cniVersion?: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: CniIp[];
  routes?: unknown[];
  dns?: unknown;
}

/** The fields of our plugin's entry in a conflist, as the runtime hands it over (name and
 *  cniVersion copied from the list; prevResult from the plugins before it). */
export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  agent_socket?: string;
  prevResult?: CniResult;
  [key: string]: unknown;
}

const maxField = 1024 * 1024;
const fields = ['command', 'containerId', 'netns', 'ifName', 'args', 'path', 'stdin'] as const;

export function parsePluginRequest(body: string): PluginRequest {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    throw new CniError(cniErrorCodes.decodeFailure, 'the plugin request is not JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new CniError(cniErrorCodes.decodeFailure, 'the plugin request is not a JSON object');
  const out = {} as Record<(typeof fields)[number], string>;
  for (const f of fields) {
    const v = (doc as Record<string, unknown>)[f];
    if (typeof v !== 'string') throw new CniError(cniErrorCodes.decodeFailure, `the plugin request's ${f} is not a string`);
    if (v.length > maxField) throw new CniError(cniErrorCodes.decodeFailure, `the plugin request's ${f} is longer than 1 MiB`);
    out[f] = v;
  }
  return out;
}

export function parseNetConf(stdin: string): NetConf {
  let doc: unknown;
  try {
    doc = JSON.parse(stdin);
  } catch {
    throw new CniError(cniErrorCodes.decodeFailure, 'the network configuration on stdin is not JSON');
  }
  const conf = doc as Partial<NetConf> | null;
  if (typeof conf !== 'object' || conf === null || Array.isArray(conf))
    throw new CniError(cniErrorCodes.invalidConfig, 'the network configuration is not a JSON object');
  if (typeof conf.cniVersion !== 'string' || conf.cniVersion === '')
    throw new CniError(cniErrorCodes.invalidConfig, 'the network configuration has no cniVersion');
  if (typeof conf.name !== 'string' || conf.name === '') throw new CniError(cniErrorCodes.invalidConfig, 'the network configuration has no name');
  if (conf.prevResult !== undefined && (typeof conf.prevResult !== 'object' || conf.prevResult === null || Array.isArray(conf.prevResult)))
    throw new CniError(cniErrorCodes.invalidConfig, 'prevResult is not an object');
  const ips = conf.prevResult?.ips;
  if (ips !== undefined && (!Array.isArray(ips) || !ips.every((ip) => typeof ip === 'object' && ip !== null && typeof ip.address === 'string')))
    throw new CniError(cniErrorCodes.invalidConfig, 'prevResult.ips is not a list of addresses');
  return conf as NetConf;
}

/** CNI_ARGS: `K=V` pairs separated by `;` (K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_UID...). */
export function parseCniArgs(args: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const pair of args.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CniError(cniErrorCodes.invalidEnvironment, `CNI_ARGS has a pair without a key and '=': ${JSON.stringify(pair.slice(0, 80))}`);
    out.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return out;
}

/** The first IPv4 address of the result, without its prefix length. */
export function firstIpv4(result: CniResult | undefined): string | undefined {
  for (const ip of result?.ips ?? []) {
    const addr = ip.address.split('/')[0]!;
    if (/^\d{1,3}(\.\d{1,3}){3}$/.test(addr)) return addr;
  }
  return undefined;
}

/** The error document a CNI plugin prints on stdout with a non-zero exit. */
export function renderCniError(cniVersion: string, err: unknown): string {
  const e =
    err instanceof CniError
      ? err
      : new CniError(cniErrorCodes.tryAgainLater, `ambient-cni node agent failed: ${err instanceof Error ? err.message : String(err)}`);
  return `${JSON.stringify({ cniVersion, code: e.cniCode, msg: e.message, details: e.details })}\n`;
}

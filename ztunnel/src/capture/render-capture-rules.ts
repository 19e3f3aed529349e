// Pure rendering of the in-pod capture rules (Istio's in-pod mode, with chains of our own) and
// of their exact removal, from `iptables-save` text. The I/O lives in capture-rules.ts.
import { ports, ztunnelMark } from '@ambient/api';
import { CaptureError } from './capture-error.ts';

export interface CaptureConfig {
  /** SO_MARK on ztunnel's own sockets in the pod: never captured again. */
  mark: number;
  outboundPort: number;
  inboundPlaintextPort: number;
  hbonePort: number;
  /** TCP ports inbound capture lets through to the pod: a sidecar's metrics and readiness ports,
   *  which the kubelet probes (and Prometheus scrapes) from outside the pod, as Istio's sidecar
   *  exempts them. None for ambient capture. */
  inboundExemptPorts?: readonly number[];
}

export const defaultCaptureConfig: Readonly<CaptureConfig> = Object.freeze({
  mark: ztunnelMark,
  outboundPort: ports.outbound,
  inboundPlaintextPort: ports.inboundPlaintext,
  hbonePort: ports.hbone,
});

/** Connections ztunnel makes into the pod are tagged with this connmark, so the app's replies
 *  can be told apart (Istio routes them locally when ztunnel spoofs the client's source). */
export const connectionMark = 0x111;

/** Every chain we own starts with this; removal finds ours by it and touches nothing else. */
export const chainPrefix = 'ZTUNNEL-';
const tables = ['mangle', 'nat'] as const;
const builtinChains: Record<string, string[]> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  raw: ['PREROUTING', 'OUTPUT'],
  security: ['INPUT', 'FORWARD', 'OUTPUT'],
};

export function checkCaptureConfig(config: CaptureConfig): void {
  const ports = [config.outboundPort, config.inboundPlaintextPort, config.hbonePort];
  for (const p of ports) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new CaptureError('ERR_CAPTURE_CONFIG', `capture port must be an integer from 1 to 65535, got ${p}`);
  }
  if (new Set(ports).size !== ports.length) throw new CaptureError('ERR_CAPTURE_CONFIG', `capture ports must differ, got ${ports.join(', ')}`);
  for (const p of config.inboundExemptPorts ?? []) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new CaptureError('ERR_CAPTURE_CONFIG', `exempt port must be an integer from 1 to 65535, got ${p}`);
    if (ports.includes(p)) throw new CaptureError('ERR_CAPTURE_CONFIG', `exempt port ${p} is one of the capture ports`);
  }
  if (!Number.isInteger(config.mark) || config.mark < 1 || config.mark > 0xffffffff || config.mark === connectionMark) {
    throw new CaptureError('ERR_CAPTURE_CONFIG', `capture mark must be an integer from 1 to 0xffffffff other than ${hex(connectionMark)}, got ${config.mark}`);
  }
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** Istio matches the mark under 0xfff so bits other agents use don't matter; a wider mark
 *  is matched whole. */
function markMatch(mark: number): string {
  return mark <= 0xfff ? `${hex(mark)}/0xfff` : `${hex(mark)}/0xffffffff`;
}

/** The rules for one table (no `*table`/COMMIT), in iptables-restore syntax. */
function tableRules(table: (typeof tables)[number], c: CaptureConfig): string[] {
  const mark = markMatch(c.mark);
  const conn = `${hex(connectionMark)}/0xfff`;
  const head = [
    `:${chainPrefix}PREROUTING - [0:0]`,
    `:${chainPrefix}OUTPUT - [0:0]`,
    `-A PREROUTING -j ${chainPrefix}PREROUTING`,
    `-A OUTPUT -j ${chainPrefix}OUTPUT`,
  ];
  if (table === 'mangle') {
    return [
      ...head,
      // A connection ztunnel opens into the pod (its packets carry the mark) gets a connmark...
      `-A ${chainPrefix}PREROUTING -m mark --mark ${mark} -j CONNMARK --set-xmark ${conn}`,
      // ...which the app's replies inherit, so they stay recognisable.
      `-A ${chainPrefix}OUTPUT -m connmark --mark ${conn} -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff`,
    ];
  }
  // nat sees only a connection's first packet: replies are un-NATed by conntrack, never captured.
  return [
    ...head,
    `-A ${chainPrefix}PREROUTING -m mark --mark ${mark} -j RETURN`,
    `-A ${chainPrefix}PREROUTING -p tcp -m tcp --dport ${c.hbonePort} -j RETURN`,
    ...(c.inboundExemptPorts ?? []).map((p) => `-A ${chainPrefix}PREROUTING -p tcp -m tcp --dport ${p} -j RETURN`),
    `-A ${chainPrefix}PREROUTING -s 127.0.0.0/8 -j RETURN`,
    `-A ${chainPrefix}PREROUTING -p tcp ! -d 127.0.0.1/32 -j REDIRECT --to-ports ${c.inboundPlaintextPort}`,
    `-A ${chainPrefix}OUTPUT -m mark --mark ${mark} -j RETURN`,
    `-A ${chainPrefix}OUTPUT -m connmark --mark ${conn} -j RETURN`,
    // Loopback, including the pod's own IP (routed over lo), stays inside the pod.
    `-A ${chainPrefix}OUTPUT -o lo -j RETURN`,
    `-A ${chainPrefix}OUTPUT -p tcp -j REDIRECT --to-ports ${c.outboundPort}`,
  ];
}

/** iptables-restore --noflush input that installs capture in a pod's netns from scratch. */
export function renderCaptureRules(config: CaptureConfig = defaultCaptureConfig): string {
  return renderCaptureUpdate(config, new Map());
}

export interface SavedTable {
  chains: Map<string, string>;
  rules: string[];
}
/** `iptables-save` output: table -> chains (name -> policy, `-` for user chains) and rules. */
export type SavedRules = Map<string, SavedTable>;

export function parseIptablesSave(text: string): SavedRules {
  const out: SavedRules = new Map();
  let current: SavedTable | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      current = { chains: new Map(), rules: [] };
      out.set(line.slice(1), current);
    } else if (line === 'COMMIT') {
      current = undefined;
    } else if (current && line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(/\s+/);
      current.chains.set(name!, policy ?? '-');
    } else if (current && line.startsWith('-A ')) {
      current.rules.push(line);
    } else {
      throw new CaptureError('ERR_CAPTURE_RULES', `unexpected iptables-save line: ${JSON.stringify(raw)}`);
    }
  }
  return out;
}

/** Lines (for one table) that delete our jumps and chains, exactly as `saved` has them. */
function removalLines(saved: SavedTable | undefined): string[] {
  if (!saved) return [];
  const ours = [...saved.chains.keys()].filter((c) => c.startsWith(chainPrefix));
  const jumps = saved.rules.filter((r) => {
    const chain = r.split(/\s+/)[1] ?? '';
    return !chain.startsWith(chainPrefix) && new RegExp(`\\s-[jg]\\s+${chainPrefix}`).test(r);
  });
  return [...jumps.map((r) => `-D ${r.slice(3)}`), ...ours.flatMap((c) => [`-F ${c}`, `-X ${c}`])];
}

/** iptables-restore --noflush input that replaces whatever capture rules `saved` shows with a
 *  fresh set, in one transaction: installing twice leaves one copy. */
export function renderCaptureUpdate(config: CaptureConfig, saved: SavedRules): string {
  checkCaptureConfig(config);
  return tables.map((t) => [`*${t}`, ...removalLines(saved.get(t)), ...tableRules(t, config), 'COMMIT'].join('\n')).join('\n') + '\n';
}

/** iptables-restore --noflush input that removes every capture rule and chain `saved` shows,
 *  or '' when there is none. */
export function renderCaptureRemoval(saved: SavedRules): string {
  const blocks = tables.flatMap((t) => {
    const lines = removalLines(saved.get(t));
    return lines.length === 0 ? [] : [[`*${t}`, ...lines, 'COMMIT'].join('\n')];
  });
  return blocks.length === 0 ? '' : blocks.join('\n') + '\n';
}

export function hasCaptureRules(saved: SavedRules): boolean {
  return tables.some((t) => removalLines(saved.get(t)).length > 0);
}

/** Tables left with nothing but their built-in chains at policy ACCEPT: as good as absent.
 *  Removal deletes those it emptied, so the netns looks exactly as before capture. */
export function emptyTables(saved: SavedRules): string[] {
  return [...saved]
    .filter(([name, t]) => {
      const builtin = builtinChains[name];
      return builtin !== undefined && t.rules.length === 0 && [...t.chains].every(([chain, policy]) => builtin.includes(chain) && policy === 'ACCEPT');
    })
    .map(([name]) => name);
}

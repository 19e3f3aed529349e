// `kubectl ambient check`, like `linkerd check`: each line one fact about the installation,
// ✔ or ✘ with a hint. The checks are pure over what `gatherFacts` read, so a table test can
// pin every hint; the command exits non-zero when any check fails.
import { ports } from '@ambient/api';
import { ApiextensionsV1Api, CoordinationV1Api, type V1Pod } from '@kubernetes/client-node';
import type { KubeContext } from '../kube-context.ts';
import { dataplaneModeLabel } from '@ambient/api';
import type { Palette } from '../output.ts';
import { connectFromPod, getFromPod } from '../proxy-admin.ts';
import { ISTIO_NAMESPACE, type NodeDump, ztunnelDumps } from '../ztunnel-dump.ts';

export const REQUIRED_CRDS = [
  'gatewayclasses.gateway.networking.k8s.io',
  'gateways.gateway.networking.k8s.io',
  'httproutes.gateway.networking.k8s.io',
  'grpcroutes.gateway.networking.k8s.io',
  'authorizationpolicies.security.istio.io',
  'peerauthentications.security.istio.io',
  'destinationrules.networking.istio.io',
  'ratelimitpolicies.mesh.ambient.dev',
  'faultinjectionpolicies.mesh.ambient.dev',
  'backendtrafficpolicies.mesh.ambient.dev',
];
export const LEADER_LEASE = 'istiod-lite-leader';
/** The CNI node agent's pods (deploy/daemonset/istio-cni-node.yaml) and its readiness port. */
const CNI_AGENT_APP = 'istio-cni-node';
const CNI_AGENT_HEALTH_PORT = 8000;
/** Certificates expiring sooner than this are flagged: rotation should have renewed them. */
const EXPIRY_WARNING_MS = 60 * 60 * 1000;

export interface CheckResult {
  ok: boolean;
  title: string;
  detail?: string;
  hint?: string;
}

/** Everything the checks look at, read once. */
export interface Facts {
  now: Date;
  crds: string[];
  lease?: { holder?: string; renewTime?: string; durationSeconds?: number };
  nodes: string[];
  ztunnels: NodeDump[];
  /** node → why its ztunnel is not ready ('' = ready). */
  readiness: Map<string, string>;
  /** node → its CNI node agent (istio-cni-node) pod and why it is not ready ('' = ready); absent: no agent pod. */
  cniAgents: Map<string, { pod: string; notReady: string }>;
  /** Enrolled namespaces and their pods the mesh should capture. */
  enrolled: { namespace: string; pods: V1Pod[] }[];
  /** HBONE reachability probes: from a node to a captured pod on another node. */
  hbone: { from: string; to: string; address: string; failure?: string }[];
}

export function runChecks(f: Facts): CheckResult[] {
  const results: CheckResult[] = [];
  const missing = REQUIRED_CRDS.filter((c) => !f.crds.includes(c));
  results.push({
    ok: missing.length === 0,
    title: 'the mesh CRDs are installed',
    ...(missing.length ? { detail: `missing: ${missing.join(', ')}`, hint: "apply them: 'kubectl apply -k deploy/crds'" } : {}),
  });
  results.push(leaderCheck(f));
  for (const node of f.nodes) {
    const z = f.ztunnels.find((d) => d.node === node);
    if (!z) {
      results.push({
        ok: false,
        title: `ztunnel runs on node ${node}`,
        detail: 'no ztunnel pod',
        hint: "see 'kubectl -n istio-system describe daemonset ztunnel' (a nodeSelector or taint may exclude the node)",
      });
      continue;
    }
    const why = f.readiness.get(node) ?? z.failure;
    results.push({
      ok: !why && !z.failure,
      title: `ztunnel on node ${node} is ready and answers its admin port`,
      ...(why || z.failure
        ? {
            detail: why || z.failure,
            hint: `see 'kubectl -n istio-system logs ${z.pod.metadata?.name}'; pods on ${node} get no new mesh traffic until it is back`,
          }
        : {}),
    });
  }
  results.push(...f.nodes.map((node) => cniAgentCheck(f, node)));
  results.push(certificateCheck(f));
  results.push(...hboneChecks(f));
  results.push(...captureChecks(f));
  return results;
}

/** Without its CNI agent a node hands no new pod to ztunnel: their CNI ADD fails and they stay Pending. */
function cniAgentCheck(f: Facts, node: string): CheckResult {
  const title = `the CNI node agent on node ${node} is ready (it hands each new pod to ztunnel)`;
  const agent = f.cniAgents.get(node);
  if (!agent) {
    return {
      ok: false,
      title,
      detail: 'no istio-cni-node pod',
      hint: `new pods on ${node} stay Pending (their CNI ADD fails until the agent is back): see 'kubectl -n ${ISTIO_NAMESPACE} describe daemonset istio-cni-node'`,
    };
  }
  if (agent.notReady) {
    return { ok: false, title, detail: agent.notReady, hint: `see 'kubectl -n ${ISTIO_NAMESPACE} logs ${agent.pod}'` };
  }
  return { ok: true, title };
}

function leaderCheck(f: Facts): CheckResult {
  const title = 'istiod-lite holds the leader lease (status, waypoints, webhook)';
  const renewed = f.lease?.renewTime ? Date.parse(f.lease.renewTime) : Number.NaN;
  const duration = (f.lease?.durationSeconds ?? 15) * 1000;
  if (!f.lease?.holder || Number.isNaN(renewed)) {
    return {
      ok: false,
      title,
      detail: `no holder in lease ${ISTIO_NAMESPACE}/${LEADER_LEASE}`,
      hint: 'is istiod-lite running? its log says why it is not leading',
    };
  }
  const age = f.now.getTime() - renewed;
  if (age > duration) {
    return {
      ok: false,
      title,
      detail: `${f.lease.holder} last renewed ${Math.round(age / 1000)} s ago (lease ${duration / 1000} s)`,
      hint: 'istiod-lite stopped renewing: is it running and can it reach the API server?',
    };
  }
  return { ok: true, title, detail: `${f.lease.holder}, renewed ${Math.max(0, Math.round(age / 1000))} s ago` };
}

function certificateCheck(f: Facts): CheckResult {
  const title = "ztunnels' workload certificates are valid";
  const certs = f.ztunnels.flatMap((z) => (z.dump?.certificates ?? []).map((c) => ({ node: z.node, c })));
  if (certs.length === 0) return { ok: true, title, detail: 'no certificates yet (no captured pods)' };
  const bad = certs.filter(({ c }) => c.state !== 'available' || !c.chain[0] || Date.parse(c.chain[0].notAfter) <= f.now.getTime());
  if (bad.length > 0) {
    const { node, c } = bad[0]!;
    return {
      ok: false,
      title,
      detail: `${bad.length} of ${certs.length} not valid, e.g. ${c.identity} on ${node} (${c.state})`,
      hint: "istiod-lite's CA signs them: check its log, and 'kubectl ambient certificates' for each one's state",
    };
  }
  const earliest = certs.reduce((a, b) => (Date.parse(a.c.chain[0]!.notAfter) <= Date.parse(b.c.chain[0]!.notAfter) ? a : b));
  const left = Date.parse(earliest.c.chain[0]!.notAfter) - f.now.getTime();
  return {
    ok: left > EXPIRY_WARNING_MS,
    title,
    detail: `${certs.length} valid; the earliest expires in ${humanDuration(left)} (${earliest.c.identity} on ${earliest.node})`,
    ...(left > EXPIRY_WARNING_MS ? {} : { hint: 'a certificate this close to expiry was not rotated: is istiod-lite reachable from that node?' }),
  };
}

function hboneChecks(f: Facts): CheckResult[] {
  if (f.hbone.length === 0)
    return [{ ok: true, title: 'HBONE port 15008 is reachable between nodes', detail: 'nothing to probe (no captured pods on two nodes)' }];
  return f.hbone.map((p) => ({
    ok: !p.failure,
    title: `HBONE port ${ports.hbone} is reachable from ${p.from} to ${p.to} (${p.address})`,
    ...(p.failure
      ? {
          detail: p.failure,
          hint: `allow TCP ${ports.hbone} between nodes and pods: a NetworkPolicy or firewall blocking it breaks every cross-node call in the mesh`,
        }
      : {}),
  }));
}

function captureChecks(f: Facts): CheckResult[] {
  const captured = new Set(f.ztunnels.flatMap((z) => (z.dump?.captured ?? []).map((c) => c.uid)));
  if (f.enrolled.length === 0)
    return [{ ok: true, title: 'enrolled namespaces', detail: `none yet: 'kubectl label namespace <ns> ${dataplaneModeLabel}=ambient'` }];
  // A pod on a node whose ztunnel did not answer is unknown, not uncaptured.
  const unread = new Set(f.ztunnels.filter((z) => !z.dump).map((z) => z.node));
  return f.enrolled.map(({ namespace, pods }) => {
    const unknown = pods.filter((p) => unread.has(p.spec?.nodeName ?? ''));
    const missing = pods.filter((p) => !unread.has(p.spec?.nodeName ?? '') && !captured.has(p.metadata?.uid ?? ''));
    const title = `namespace ${namespace}: its pods are captured by ztunnel`;
    if (missing.length === 0 && unknown.length === 0) return { ok: true, title, detail: `${pods.length} of ${pods.length}` };
    const list = (ps: V1Pod[]) => ps.map((p) => `${p.metadata?.name} (${p.spec?.nodeName})`).join(', ');
    return {
      ok: false,
      title,
      detail: [
        `${pods.length - missing.length - unknown.length} of ${pods.length}`,
        ...(missing.length ? [`not captured: ${list(missing)}`] : []),
        ...(unknown.length ? [`unknown, their ztunnel did not answer: ${list(unknown)}`] : []),
      ].join('; '),
      hint: "pods not captured send and receive plaintext outside the mesh: check the ztunnel on their node ('kubectl ambient connections --node <node>')",
    };
  });
}

export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

export function formatResults(results: CheckResult[], palette: Palette): string {
  const lines = results.map((r) => {
    const mark = r.ok ? palette.ok('✔') : palette.bad('✘');
    const detail = r.detail ? palette.dim(` — ${r.detail}`) : '';
    return `${mark} ${r.title}${detail}${r.hint ? `\n    ${palette.warn('hint:')} ${r.hint}` : ''}`;
  });
  const failed = results.filter((r) => !r.ok).length;
  lines.push('', failed === 0 ? palette.ok(`all ${results.length} checks passed`) : palette.bad(`${failed} of ${results.length} checks failed`));
  return `${lines.join('\n')}\n`;
}

/** Reads what the checks need from the API server and the ztunnels. */
export async function gatherFacts(ctx: KubeContext, opts: { forwardedAdmin?: string; now?: Date } = {}): Promise<Facts> {
  const now = opts.now ?? new Date();
  const crds = (await ctx.kubeConfig.makeApiClient(ApiextensionsV1Api).listCustomResourceDefinition()).items.map((c) => c.metadata?.name ?? '');
  let lease: Facts['lease'];
  try {
    const l = await ctx.kubeConfig.makeApiClient(CoordinationV1Api).readNamespacedLease({ name: LEADER_LEASE, namespace: ISTIO_NAMESPACE });
    lease = {
      holder: l.spec?.holderIdentity,
      renewTime: l.spec?.renewTime ? new Date(l.spec.renewTime as unknown as string).toISOString() : undefined,
      durationSeconds: l.spec?.leaseDurationSeconds,
    };
  } catch {
    lease = undefined;
  }
  const nodes = (await ctx.core.listNode()).items.map((n) => n.metadata?.name ?? '').sort();
  const ztunnels = await ztunnelDumps(ctx, opts.forwardedAdmin ? { forwardedAdmin: opts.forwardedAdmin } : {}).catch(() => [] as NodeDump[]);
  const readiness = new Map<string, string>();
  await Promise.all(
    ztunnels.map(async (z) => {
      try {
        await getFromPod({ pod: z.pod }, ports.readiness, '/healthz/ready', 3_000);
        readiness.set(z.node, '');
      } catch (err) {
        readiness.set(z.node, (err as Error).message);
      }
    }),
  );
  const cniAgents = new Map<string, { pod: string; notReady: string }>();
  const agentPods = (await ctx.core.listNamespacedPod({ namespace: ISTIO_NAMESPACE, labelSelector: `app=${CNI_AGENT_APP}` })).items;
  await Promise.all(
    agentPods.map(async (pod) => {
      const node = pod.spec?.nodeName ?? '';
      const notReady = await getFromPod({ pod }, CNI_AGENT_HEALTH_PORT, '/readyz', 3_000).then(
        () => '',
        (err: Error) => err.message,
      );
      cniAgents.set(node, { pod: pod.metadata?.name ?? '', notReady });
    }),
  );
  const namespaces = (await ctx.core.listNamespace({ labelSelector: `${dataplaneModeLabel}=ambient` })).items.map((n) => n.metadata?.name ?? '');
  const enrolled = await Promise.all(
    namespaces.sort().map(async (namespace) => ({
      namespace,
      pods: (await ctx.core.listNamespacedPod({ namespace })).items.filter(
        (p) => p.status?.phase === 'Running' && !p.spec?.hostNetwork && p.metadata?.labels?.[dataplaneModeLabel] !== 'none',
      ),
    })),
  );
  return { now, crds, ...(lease ? { lease } : {}), nodes, ztunnels, readiness, cniAgents, enrolled, hbone: await probeHbone(ztunnels) };
}

/** From each node's ztunnel (its netns is the node's), one TCP connect to a captured pod on another node. */
async function probeHbone(ztunnels: NodeDump[]): Promise<Facts['hbone']> {
  const probes: Facts['hbone'] = [];
  for (const from of ztunnels) {
    const target = ztunnels
      .filter((z) => z.node !== from.node)
      .flatMap((z) => (z.dump?.captured ?? []).map((c) => ({ node: z.node, ip: c.ip })))
      .at(0);
    if (!target || from.failure) continue;
    const address = `${target.ip}:${ports.hbone}`;
    try {
      await connectFromPod(from.pod, target.ip, ports.hbone);
      probes.push({ from: from.node, to: target.node, address });
    } catch (err) {
      probes.push({ from: from.node, to: target.node, address, failure: (err as Error).message });
    }
  }
  return probes;
}

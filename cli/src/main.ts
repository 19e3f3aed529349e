// kubectl-ambient: `kubectl ambient <command>`. One program; each command reads the cluster
// through the kubeconfig and the proxies' local ports, and prints a table (or -o json|yaml).
import { Command, InvalidArgumentError, Option } from 'commander';
import { findingsFor, listClusterObjects, renderFindings } from './commands/analyze.ts';
import { formatResults, gatherFacts, runChecks } from './commands/check.ts';
import {
  applyWaypoint,
  deleteWaypoint,
  enrollNamespace,
  isProgrammed,
  listWaypoints,
  renderWaypoints,
  renderWaypointStatus,
  WAYPOINT_FOR,
} from './commands/waypoint.ts';
import { runTop } from './commands/top.ts';
import { renderView, viewRows, ZTUNNEL_VIEWS, type ZtunnelView } from './commands/ztunnel-config.ts';
import { type KubeFlags, kubeContext } from './kube-context.ts';
import { OUTPUT_FORMATS, type OutputFormat, paletteFor } from './output.ts';
import { ztunnelDumps } from './ztunnel-dump.ts';

interface GlobalFlags extends KubeFlags {
  output: OutputFormat;
}

const program = new Command('kubectl-ambient')
  .description('the ambient mesh from kubectl: what each ztunnel holds, waypoints, health checks, policy analysis, live traffic')
  .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)')
  .option('--context <name>', 'kubeconfig context (default: the current one)')
  .option('-n, --namespace <ns>', "namespace (default: the context's, else default)")
  .option('-A, --all-namespaces', 'every namespace')
  .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table'))
  .showHelpAfterError()
  .configureOutput({ outputError: (text, write) => write(paletteFor(process.stderr).bad(text)) });

const flags = (cmd: Command): GlobalFlags => cmd.optsWithGlobals() as GlobalFlags;
const out = (text: string): void => void process.stdout.write(text);

for (const view of ZTUNNEL_VIEWS) {
  program
    .command(view)
    .description(`${view} as each node's ztunnel sees them (its admin /config_dump)`)
    .option('--node <name>', "one node's ztunnel only")
    .option('--admin-address <host:port>', 'read a ztunnel through `kubectl port-forward` to its port 15000 (with --node)')
    .action(async (opts: { node?: string; adminAddress?: string }, cmd: Command) => {
      const f = flags(cmd);
      const ctx = kubeContext(f);
      const dumps = await ztunnelDumps(ctx, { ...(opts.node ? { node: opts.node } : {}), ...(opts.adminAddress ? { forwardedAdmin: opts.adminAddress } : {}) });
      for (const d of dumps) if (d.failure) process.stderr.write(`${paletteFor(process.stderr).warn('warning:')} ztunnel on ${d.node}: ${d.failure}\n`);
      // Workload-level views default to every namespace, as istioctl ztunnel-config does.
      const namespace = f.namespace === undefined || f.allNamespaces ? undefined : f.namespace;
      out(renderView(view as ZtunnelView, viewRows(view as ZtunnelView, dumps, namespace, new Date()), f.output));
      if (dumps.every((d) => d.failure)) process.exitCode = 1;
    });
}

const waypoint = program.command('waypoint').description('waypoint proxies (Gateways of class istio-waypoint), like istioctl waypoint');
waypoint
  .command('list')
  .description('waypoints in the namespace (-A: all)')
  .action(async (_opts, cmd: Command) => {
    const f = flags(cmd);
    out(renderWaypoints(await listWaypoints(kubeContext(f)), f.output));
  });
waypoint
  .command('status')
  .argument('[name]', 'one waypoint (default: all in the namespace)')
  .description('what istiod-lite reports for each waypoint: Accepted, Programmed, and why')
  .action(async (name: string | undefined, _opts, cmd: Command) => {
    const f = flags(cmd);
    const gateways = (await listWaypoints(kubeContext(f))).filter((g) => !name || g.metadata.name === name);
    if (name && gateways.length === 0) throw new Error(`no waypoint ${JSON.stringify(name)} in namespace ${kubeContext(f).namespace}`);
    out(renderWaypointStatus(gateways, f.output));
  });
waypoint
  .command('apply')
  .description('create or update a waypoint; --enroll-namespace sends the namespace through it')
  .option('--name <name>', 'the waypoint (Gateway) name', 'waypoint')
  .addOption(new Option('--for <kind>', 'traffic it handles (istio.io/waypoint-for)').choices(WAYPOINT_FOR).default('service'))
  .option('--enroll-namespace', 'label the namespace istio.io/use-waypoint=<name>')
  .option('--wait', 'wait (up to --timeout) until it is Programmed')
  .option('--timeout <seconds>', 'how long --wait waits', positiveInt, 60)
  .action(async (opts: { name: string; for: string; enrollNamespace?: boolean; wait?: boolean; timeout: number }, cmd: Command) => {
    const f = flags(cmd);
    const ctx = kubeContext(f);
    const namespace = ctx.namespace ?? 'default';
    const created = await applyWaypoint(ctx, namespace, opts.name, opts.for);
    out(`waypoint ${namespace}/${opts.name} ${created ? 'applied' : 'updated'}\n`);
    if (opts.enrollNamespace) {
      await enrollNamespace(ctx, namespace, opts.name);
      out(`namespace ${namespace} labelled istio.io/use-waypoint=${opts.name}\n`);
    }
    if (opts.wait) {
      const deadline = Date.now() + opts.timeout * 1000;
      for (;;) {
        const g = (await listWaypoints(ctx)).find((w) => w.metadata.name === opts.name);
        if (g && isProgrammed(g)) break;
        if (Date.now() > deadline)
          throw new Error(
            `waypoint ${namespace}/${opts.name} not Programmed after ${opts.timeout} s: see 'kubectl ambient waypoint status ${opts.name} -n ${namespace}'`,
          );
        await new Promise((r) => setTimeout(r, 500));
      }
      out(`waypoint ${namespace}/${opts.name} programmed\n`);
    }
  });
waypoint
  .command('delete')
  .argument('[names...]', 'waypoints to delete')
  .option('--all', 'every waypoint in the namespace')
  .description('delete waypoints')
  .action(async (names: string[], opts: { all?: boolean }, cmd: Command) => {
    const ctx = kubeContext(flags(cmd));
    const namespace = ctx.namespace ?? 'default';
    const targets = opts.all ? (await listWaypoints(ctx)).map((g) => g.metadata.name) : names;
    if (targets.length === 0) throw new Error('name the waypoints to delete, or pass --all');
    for (const name of targets) {
      await deleteWaypoint(ctx, namespace, name);
      out(`waypoint ${namespace}/${name} deleted\n`);
    }
  });

program
  .command('check')
  .description('is the mesh healthy: CRDs, istiod-lite leader, a ready ztunnel per node, certificates, HBONE port 15008, captured pods')
  .option('--admin-address <host:port>', 'read the ztunnel through `kubectl port-forward` to its port 15000')
  .action(async (opts: { adminAddress?: string }, cmd: Command) => {
    const results = runChecks(await gatherFacts(kubeContext(flags(cmd)), opts.adminAddress ? { forwardedAdmin: opts.adminAddress } : {}));
    out(formatResults(results, paletteFor(process.stdout)));
    if (results.some((r) => !r.ok)) process.exitCode = 1;
  });

program
  .command('analyze')
  .description('policy surprises: policies that shut out a waypoint, missing waypoints, L7 rules ztunnel cannot enforce, dangling route references')
  .action(async (_opts, cmd: Command) => {
    const f = flags(cmd);
    const ctx = kubeContext(f);
    const findings = findingsFor(await listClusterObjects(ctx), ctx.namespace);
    out(renderFindings(findings, f.output, paletteFor(process.stdout)));
    if (findings.some((x) => x.severity === 'Error')) process.exitCode = 1;
  });

program
  .command('top')
  .description('live golden signals per service from the ztunnels and waypoints: rps, success rate, p50/p99, TCP')
  .option('--interval <seconds>', 'the window of each refresh', positiveNumber, 5)
  .option('--iterations <n>', 'refreshes before exiting (0: until interrupted)', wholeNumber, 0)
  .action(async (opts: { interval: number; iterations: number }, cmd: Command) => {
    const f = flags(cmd);
    const warn = (text: string) => void process.stderr.write(`${paletteFor(process.stderr).warn('warning:')} ${text}\n`);
    await runTop(
      kubeContext(f),
      {
        intervalMs: opts.interval * 1000,
        iterations: opts.iterations,
        format: f.output,
        ...(f.namespace && !f.allNamespaces ? { namespace: f.namespace } : {}),
      },
      { write: out, warn, clear: process.stdout.isTTY === true && f.output === 'table' },
    );
  });

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number, got ${JSON.stringify(value)}`);
  return n;
}

function wholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a whole number, got ${JSON.stringify(value)}`);
  return n;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`expected a positive whole number, got ${JSON.stringify(value)}`);
  return n;
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // "fetch failed" alone says nothing: the cause (connection refused, a TLS error) does.
  const cause = (err as { cause?: unknown }).cause;
  const why = cause instanceof Error ? ` (${cause.message})` : '';
  process.stderr.write(`${paletteFor(process.stderr).bad('error:')} ${(err as Error).message}${why}\n`);
  process.exitCode = 1;
}

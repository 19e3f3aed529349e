// `npm start`: bring up the local cluster (2 nodes) with istiod-lite, run the walkthrough
// (demo/walkthrough.ts), print how to use kubectl, and keep running until Ctrl-C (`--once`
// stops right after the walkthrough; the tests use it).
//
// It must work whatever state the data directory and the machine are in, and leave nothing
// behind whatever happens: it first stops a cluster still running from the same directory and
// removes what a crashed run left (cli/cluster-owner.ts); a failed step, SIGINT, SIGTERM or
// SIGHUP tear down everything it started and exit non-zero, naming the step and the logs.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { MeshError } from '@ambient/api';
import pino from 'pino';
import { startCluster, type Cluster } from './cluster.ts';
import { claimDataDir, stopCluster } from './cli/cluster-owner.ts';
import { defaultDataDir, logFile } from './cli/daemon-files.ts';
import { DemoStepError, StepRunner } from './demo/steps.ts';
import { walkthrough } from './demo/walkthrough.ts';
import { readyMessage } from './main.ts';
import { istiodProcess } from './mesh.ts';

const say = (line = ''): void => void process.stdout.write(`${line}\n`);

/** How long the cluster gets to stop in order before everything is removed by force. */
const orderlyStopMs = 30_000;

class Interrupted extends MeshError<'ERR_DEMO_INTERRUPTED'> {
  readonly exitCode: number;
  constructor(signal: NodeJS.Signals) {
    super('ERR_DEMO_INTERRUPTED', `interrupted by ${signal}`);
    this.exitCode = 128 + ({ SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as Record<string, number>)[signal]!;
  }
}

/** The logs that explain a failure, in the order worth reading them; of the ztunnels' logs,
 *  those this run wrote (the data directory keeps earlier pods' logs too). */
function logsToRead(dataDir: string, since: Date): string[] {
  const pods = join(dataDir, 'pods');
  const ztunnels = (existsSync(pods) ? readdirSync(pods) : [])
    .filter((d) => d.startsWith('istio-system_ztunnel-'))
    .map((d) => join(pods, d, 'istio-proxy.log'))
    .filter((f) => (statSync(f, { throwIfNoEntry: false })?.mtimeMs ?? 0) >= since.getTime());
  return [
    `${logFile(dataDir)} (API server, kubelets, controllers)`,
    `${join(dataDir, 'istiod-lite.log')} (istiod-lite)`,
    ...ztunnels.map((f) => `${f} (ztunnel)`),
  ];
}

/** Stops the cluster in order (bounded), then removes by name and marker whatever is left:
 *  nothing the cluster started may outlive the demo. */
async function stopEverything(dataDir: string, cluster: Cluster | undefined): Promise<void> {
  say('\nstopping: removing every pod, namespace, link, rule and process the cluster created');
  if (cluster) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      cluster.stop().catch(() => undefined),
      new Promise<void>((done) => {
        timer = setTimeout(done, orderlyStopMs);
      }),
    ]);
    clearTimeout(timer);
  }
  await stopCluster(dataDir).catch((err: unknown) => console.error('cleanup failed:', err));
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { once: { type: 'boolean', default: false }, data: { type: 'string' }, nodes: { type: 'string', default: '2' }, port: { type: 'string' } },
  });
  const dataDir = resolve(values.data ?? defaultDataDir());

  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!abort.signal.aborted) {
      say(`\n${signal}: stopping`);
      abort.abort(new Interrupted(signal));
      return;
    }
    // A second signal: no more patience; remove everything by name and marker, now.
    void stopCluster(dataDir).finally(() => process.exit(new Interrupted(signal).exitCode));
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);

  let cluster: Cluster | undefined;
  let claimed = false;
  const since = new Date();
  const steps = new StepRunner(say);
  try {
    for (const line of await claimDataDir(dataDir)) say(line);
    claimed = true;
    const logger = pino({ level: process.env.LOG_LEVEL ?? 'info' }, pino.destination({ dest: logFile(dataDir), append: true, sync: true, mkdir: true }));
    say(`starting the local cluster in ${dataDir} (objects from earlier runs are kept) ...`);
    // Fixed ports for people; ephemeral ones when the API port is (tests run in parallel).
    cluster = await startCluster({
      dataDir,
      nodes: Number(values.nodes),
      ...(values.port ? { port: Number(values.port) } : {}),
      controlPlane: [istiodProcess(dataDir, values.port === '0')],
      logger,
    });
    abort.signal.throwIfAborted();
    const istiod = cluster.controlPlane.find((p) => p.name === 'istiod-lite')!;
    say(`istiod-lite: discovery + CA on ${istiod.ready.grpc}, metrics on ${istiod.ready.metrics}`);

    await walkthrough({ cluster, steps, signal: abort.signal, logger, say, since }, String(istiod.ready.metrics));
    say(`\n${readyMessage(dataDir, cluster.api.url, cluster.nodes.length).replace(/\n.*stop it with.*$/, '')}`);
    if (values.once) return 0;
    say('\nthe cluster keeps running; press Ctrl-C to stop it');
    await new Promise<void>((done) => abort.signal.addEventListener('abort', () => done(), { once: true }));
    return 0;
  } catch (err) {
    if (abort.signal.aborted) {
      const reason = abort.signal.reason as Interrupted;
      console.error(`demo ${reason.message}${err instanceof DemoStepError ? ` during step '${err.step.id}' (${err.step.title})` : ''}`);
      return reason.exitCode;
    }
    const where = err instanceof DemoStepError ? `at step '${err.step.id}' (${err.step.title})` : 'while starting the cluster';
    const cause = err instanceof DemoStepError ? err.cause : err;
    console.error(`\ndemo failed ${where}: ${cause instanceof Error ? cause.message : String(cause)}`);
    console.error(
      `read:\n${logsToRead(dataDir, since)
        .map((l) => `  ${l}`)
        .join('\n')}`,
    );
    return 1;
  } finally {
    if (claimed) await stopEverything(dataDir, cluster);
  }
}

main().then(
  async (code) => {
    await sleep(0); // let the last lines reach stdout
    process.exit(code);
  },
  (err: unknown) => {
    console.error('demo failed:', err);
    process.exit(1);
  },
);

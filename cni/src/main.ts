// The CNI node agent: flags and environment → CniAgent, plus its probe port (8000: /healthz,
// /readyz) and metrics port (15014: /metrics), as Istio's istio-cni-node. See cni/README.md.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { Counter, Gauge, Registry } from 'prom-client';
import { portFlag, requiredFlag, runUntilSignal } from '@ambient/api';
import { CniAgent } from './agent.ts';
import { podApi } from './kube-pods.ts';

const { createServer } = process.getBuiltinModule('node:http');
const env = process.env;
const { values } = parseArgs({
  options: {
    node: { type: 'string', default: env.NODE_NAME },
    'cni-conf-dir': { type: 'string', default: env.CNI_CONF_DIR ?? '/host/etc/cni/net.d' },
    'cni-bin-dir': { type: 'string', default: env.CNI_BIN_DIR ?? '/host/opt/cni/bin' },
    'run-dir': { type: 'string', default: env.CNI_RUN_DIR ?? '/var/run/ambient-cni' },
    'node-agent-socket': { type: 'string', default: env.NODE_AGENT_SOCKET ?? '/var/run/ztunnel/node-agent.sock' },
    'netns-dir': { type: 'string', default: env.NETNS_DIR ?? '/var/run/netns' },
    'cni-cache-dir': { type: 'string', default: env.CNI_CACHE_DIR ?? '/host/var/lib/cni/results' },
    'plugin-binary': { type: 'string', default: join(import.meta.dirname, 'bin', 'ambient-cni') },
    kubeconfig: { type: 'string', default: env.KUBECONFIG },
    host: { type: 'string', default: '0.0.0.0' },
    'health-port': { type: 'string', default: '8000' },
    'metrics-port': { type: 'string', default: '15014' },
    'log-level': { type: 'string', default: env.LOG_LEVEL ?? 'info' },
  },
});

const nodeName = values.node;
const logger = pino({ level: values['log-level'], base: { component: 'istio-cni', node: nodeName } });

/** In a pod: the in-cluster config; else --kubeconfig; else no API (ADD must carry K8S_POD_UID). */
function kubeConfig(): KubeConfig | undefined {
  const kc = new KubeConfig();
  if (env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else if (values.kubeconfig) kc.loadFromFile(values.kubeconfig);
  else return undefined;
  return kc;
}

const registry = new Registry();
const calls = new Counter({
  name: 'ambient_cni_plugin_calls_total',
  help: 'Plugin calls the agent answered, by CNI command and result',
  labelNames: ['command', 'result'],
  registers: [registry],
});
const repairs = new Counter({
  name: 'ambient_cni_conflist_repairs_total',
  help: 'Times the ambient-cni entry was missing from the primary CNI config and was put back',
  registers: [registry],
});

await runUntilSignal('istio-cni', logger, async () => {
  const node = requiredFlag('node', nodeName);
  const healthPort = portFlag('health-port', values['health-port']);
  const metricsPort = portFlag('metrics-port', values['metrics-port']);
  const kc = kubeConfig();
  const agent = await CniAgent.start({
    nodeName: node,
    confDir: values['cni-conf-dir'],
    binDir: values['cni-bin-dir'],
    runDir: values['run-dir'],
    nodeAgentSocket: values['node-agent-socket'],
    netnsDir: values['netns-dir'],
    cniCacheDir: values['cni-cache-dir'],
    pluginBinary: values['plugin-binary'],
    ...(kc ? { api: podApi(kc, node) } : {}),
    logger,
    onPluginCall: (command, ok) => calls.inc({ command, result: ok ? 'ok' : 'error' }),
    onRepair: () => repairs.inc(),
  });
  new Gauge({
    name: 'ambient_cni_pods',
    help: 'Pods of this node the agent hands to ztunnel',
    registers: [registry],
    collect() {
      this.set(agent.state.all().length);
    },
  });
  const servers = [
    createServer((req, res) => {
      const why = req.url === '/readyz' ? agent.notReady() : undefined;
      if (req.url !== '/readyz' && req.url !== '/healthz') res.writeHead(404).end();
      else if (why) res.writeHead(503, { 'content-type': 'text/plain' }).end(`not ready: ${why}\n`);
      else res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    }),
    createServer((req, res) => {
      if (req.url !== '/metrics') return void res.writeHead(404).end();
      void registry.metrics().then((body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body));
    }),
  ];
  const listen = (i: number, port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      servers[i]!.once('error', reject).listen(port, values.host, () => resolve((servers[i]!.address() as { port: number }).port));
    });
  const health = await listen(0, healthPort);
  const metrics = await listen(1, metricsPort);
  return {
    ready: { health: `http://127.0.0.1:${health}/readyz`, metrics: `http://127.0.0.1:${metrics}/metrics` },
    async stop() {
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
      await agent.stop();
    },
  };
});

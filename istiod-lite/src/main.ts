// istiod-lite: flags and environment → startIstiod. See istiod-lite/README.md.
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { portFlag, ports, positiveIntegerFlag, runUntilSignal } from '@ambient/api';
import { startIstiod } from './app.ts';
import { defaultTokenAudiences, parseTokenAudiences } from './auth/token-review-authenticator.ts';
import { defaultProxyPodOptions } from './proxy-pod.ts';
import { defaultMaxStreamsPerCaller } from './xds/caller-stream-limit.ts';
import { defaultMaxPushBytesInFlight } from './xds/push-budget.ts';

const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    host: { type: 'string', default: process.env.ISTIOD_HOST ?? '0.0.0.0' },
    'grpc-port': { type: 'string', default: process.env.ISTIOD_GRPC_PORT ?? String(ports.istiodGrpc) },
    uds: { type: 'string', default: process.env.ISTIOD_UDS },
    'metrics-port': { type: 'string', default: process.env.ISTIOD_METRICS_PORT ?? String(ports.istiodMetrics) },
    'webhook-port': { type: 'string', default: process.env.ISTIOD_WEBHOOK_PORT ?? String(ports.webhook) },
    'webhook-url-host': { type: 'string', default: process.env.ISTIOD_WEBHOOK_URL_HOST },
    'trust-domain': { type: 'string', default: process.env.TRUST_DOMAIN ?? 'cluster.local' },
    'root-namespace': { type: 'string', default: process.env.ROOT_NAMESPACE ?? 'istio-system' },
    'install-crds': { type: 'boolean', default: false },
    'allow-test-proxies': { type: 'boolean', default: false },
    'max-streams-per-caller': { type: 'string', default: process.env.MAX_STREAMS_PER_CALLER ?? String(defaultMaxStreamsPerCaller) },
    'max-push-mib-in-flight': { type: 'string', default: process.env.MAX_PUSH_MIB_IN_FLIGHT ?? String(defaultMaxPushBytesInFlight / 1048576) },
    'token-audiences': { type: 'string', default: process.env.TOKEN_AUDIENCES ?? defaultTokenAudiences.join(',') },
    identity: { type: 'string', default: process.env.POD_NAME },
    'waypoint-istiod-address': { type: 'string', default: process.env.WAYPOINT_ISTIOD_ADDRESS ?? defaultProxyPodOptions.istiodAddress },
    'waypoint-root-cert-file': { type: 'string', default: process.env.WAYPOINT_ROOT_CERT_FILE ?? defaultProxyPodOptions.rootCertFile },
    'waypoint-token-file': { type: 'string', default: process.env.WAYPOINT_TOKEN_FILE ?? defaultProxyPodOptions.tokenFile },
    'log-level': { type: 'string', default: process.env.LOG_LEVEL ?? 'info' },
  },
});

const logger = pino({ level: values['log-level'], base: { component: 'istiod-lite' } });
const kubeConfig = new KubeConfig();
// In a pod: the ServiceAccount token; elsewhere: --kubeconfig or $KUBECONFIG.
if (values.kubeconfig) kubeConfig.loadFromFile(values.kubeconfig);
else kubeConfig.loadFromDefault();

await runUntilSignal('istiod-lite', logger, async () => {
  const istiod = await startIstiod({
    kubeConfig,
    logger,
    host: values.host,
    grpcPort: portFlag('grpc-port', values['grpc-port']),
    ...(values.uds ? { udsPath: values.uds } : {}),
    metricsPort: portFlag('metrics-port', values['metrics-port']),
    webhookPort: portFlag('webhook-port', values['webhook-port']),
    ...(values['webhook-url-host'] ? { webhookUrlHost: values['webhook-url-host'] } : {}),
    mesh: { trustDomain: values['trust-domain'], rootNamespace: values['root-namespace'] },
    installCrds: values['install-crds'],
    allowTestProxies: values['allow-test-proxies'],
    processMetrics: true,
    maxStreamsPerCaller: positiveIntegerFlag('max-streams-per-caller', values['max-streams-per-caller']),
    maxPushBytesInFlight: positiveIntegerFlag('max-push-mib-in-flight', values['max-push-mib-in-flight']) * 1048576,
    tokenAudiences: parseTokenAudiences('token-audiences', values['token-audiences']),
    proxyPod: {
      istiodAddress: values['waypoint-istiod-address'],
      rootCertFile: values['waypoint-root-cert-file'],
      tokenFile: values['waypoint-token-file'],
    },
    ...(values.identity ? { identity: values.identity } : {}),
  });
  return { ready: { grpc: istiod.grpcAddress, uds: istiod.udsAddress, metrics: istiod.metricsUrl, webhook: istiod.webhookUrl }, stop: () => istiod.stop() };
});

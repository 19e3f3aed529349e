// ztunnel: flags and environment → startZtunnel. See ztunnel/README.md.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { portFlag, ports, positiveIntegerFlag, requiredFlag, runUntilSignal, wholeNumberFlag } from '@ambient/api';
import { tokenFromFile } from '@ambient/api/proxy-runtime';
import { startZtunnel } from './app.ts';

const env = process.env;
const { values } = parseArgs({
  options: {
    node: { type: 'string', default: env.NODE_NAME },
    'node-agent-socket': { type: 'string', default: env.NODE_AGENT_SOCKET },
    istiod: { type: 'string', default: env.ISTIOD_ADDRESS ?? `istiod.istio-system.svc:${ports.istiodGrpc}` },
    'root-cert': { type: 'string', default: env.ROOT_CERT_FILE ?? '/var/run/secrets/istio/root-cert.pem' },
    'token-file': { type: 'string', default: env.AMBIENT_SA_TOKEN_FILE ?? '/var/run/secrets/tokens/istio-token' },
    'trust-domain': { type: 'string', default: env.TRUST_DOMAIN ?? 'cluster.local' },
    'cert-ttl': { type: 'string', default: env.CERT_TTL_SECONDS ?? '86400' },
    host: { type: 'string', default: env.ZTUNNEL_HOST ?? '127.0.0.1' },
    'probe-host': { type: 'string', default: env.ZTUNNEL_PROBE_HOST },
    'admin-port': { type: 'string', default: env.ZTUNNEL_ADMIN_PORT ?? String(ports.admin) },
    'metrics-port': { type: 'string', default: env.ZTUNNEL_METRICS_PORT ?? String(ports.metrics) },
    'readiness-port': { type: 'string', default: env.ZTUNNEL_READINESS_PORT ?? String(ports.readiness) },
    'log-level': { type: 'string', default: env.LOG_LEVEL ?? 'info' },
    'drain-seconds': { type: 'string', default: env.DRAIN_SECONDS ?? '5' },
    'max-pod-outbound-connections': { type: 'string', default: env.MAX_POD_OUTBOUND_CONNECTIONS ?? '10000' },
    'max-pod-inbound-connections': { type: 'string', default: env.MAX_POD_INBOUND_CONNECTIONS ?? '10000' },
    'malloc-trim-seconds': { type: 'string', default: env.MALLOC_TRIM_SECONDS ?? '10' },
  },
});

const logger = pino({ level: values['log-level'], base: { component: 'ztunnel', node: values.node } });
await runUntilSignal('ztunnel', logger, async () => {
  const ztunnel = await startZtunnel({
    nodeName: requiredFlag('node', values.node),
    nodeAgentSocket: requiredFlag('node-agent-socket', values['node-agent-socket']),
    istiodAddress: values.istiod,
    rootCertPem: readFileSync(values['root-cert'], 'utf8'),
    token: tokenFromFile(values['token-file']),
    trustDomain: values['trust-domain'],
    certTtlSeconds: Number(values['cert-ttl']),
    host: values.host,
    ...(values['probe-host'] ? { probeHost: values['probe-host'] } : {}),
    adminPort: portFlag('admin-port', values['admin-port']),
    metricsPort: portFlag('metrics-port', values['metrics-port']),
    readinessPort: portFlag('readiness-port', values['readiness-port']),
    podConnectionLimits: {
      outbound: positiveIntegerFlag('max-pod-outbound-connections', values['max-pod-outbound-connections']),
      inbound: positiveIntegerFlag('max-pod-inbound-connections', values['max-pod-inbound-connections']),
    },
    mallocTrimIntervalMs: wholeNumberFlag('malloc-trim-seconds', values['malloc-trim-seconds']) * 1000,
    logger,
  });
  const drainMs = Number(values['drain-seconds']) * 1000;
  return { ready: { admin: ztunnel.adminUrl, metrics: ztunnel.metricsUrl, readiness: ztunnel.readyUrl }, stop: () => ztunnel.stop({ drainMs }) };
});

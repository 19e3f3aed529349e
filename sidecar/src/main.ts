// sidecar: flags and environment (as the injection template sets them) → startSidecar. See sidecar/README.md.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { portFlag, ports, requiredFlag, runUntilSignal } from '@ambient/api';
import { parseStoreAddress } from '@ambient/api/mesh-policy';
import { tokenFromFile } from '@ambient/api/proxy-runtime';
import { startSidecar } from './app.ts';

const env = process.env;
const { values } = parseArgs({
  options: {
    'pod-name': { type: 'string', default: env.POD_NAME },
    'pod-namespace': { type: 'string', default: env.POD_NAMESPACE },
    'pod-ip': { type: 'string', default: env.POD_IP },
    'service-account': { type: 'string', default: env.SERVICE_ACCOUNT || 'default' },
    istiod: { type: 'string', default: env.ISTIOD_ADDRESS ?? `istiod.istio-system.svc:${ports.istiodGrpc}` },
    'root-cert': { type: 'string', default: env.ROOT_CERT_FILE ?? '/var/run/secrets/istio/root-cert.pem' },
    'token-file': { type: 'string', default: env.AMBIENT_SA_TOKEN_FILE ?? '/var/run/secrets/tokens/istio-token' },
    'trust-domain': { type: 'string', default: env.TRUST_DOMAIN ?? 'cluster.local' },
    'cert-ttl': { type: 'string', default: env.CERT_TTL_SECONDS ?? '86400' },
    host: { type: 'string', default: env.SIDECAR_HOST ?? '127.0.0.1' },
    'probe-host': { type: 'string', default: env.SIDECAR_PROBE_HOST ?? '0.0.0.0' },
    'admin-port': { type: 'string', default: env.SIDECAR_ADMIN_PORT ?? String(ports.admin) },
    'metrics-port': { type: 'string', default: env.SIDECAR_METRICS_PORT ?? String(ports.metrics) },
    'readiness-port': { type: 'string', default: env.SIDECAR_READINESS_PORT ?? String(ports.readiness) },
    'redis-address': { type: 'string', default: env.REDIS_ADDRESS ?? '' },
    'log-level': { type: 'string', default: env.LOG_LEVEL ?? 'info' },
  },
});

const redisAddress = values['redis-address'] ?? '';
if (redisAddress !== '' && parseStoreAddress(redisAddress) === undefined) {
  process.stderr.write(`sidecar: --redis-address ${JSON.stringify(redisAddress)}: expected host:port\n`);
  process.exit(2);
}

const podNamespace = requiredFlag('pod-namespace', values['pod-namespace']);
const podName = requiredFlag('pod-name', values['pod-name']);
const logger = pino({ level: values['log-level'], base: { component: 'sidecar', pod: `${podNamespace}/${podName}` } });
await runUntilSignal('sidecar', logger, async () => {
  const sidecar = await startSidecar({
    podName,
    podNamespace,
    podIp: requiredFlag('pod-ip', values['pod-ip']),
    serviceAccount: values['service-account'] ?? 'default',
    istiodAddress: values.istiod,
    rootCertPem: readFileSync(values['root-cert'], 'utf8'),
    token: tokenFromFile(values['token-file']),
    trustDomain: values['trust-domain'],
    certTtlSeconds: Number(values['cert-ttl']),
    host: values.host,
    probeHost: values['probe-host'],
    adminPort: portFlag('admin-port', values['admin-port']),
    metricsPort: portFlag('metrics-port', values['metrics-port']),
    readinessPort: portFlag('readiness-port', values['readiness-port']),
    ...(redisAddress ? { redisAddress } : {}),
    logger,
  });
  return {
    ready: { identity: sidecar.identity, admin: sidecar.adminUrl, metrics: sidecar.metricsUrl, readiness: sidecar.readyUrl },
    stop: () => sidecar.stop(),
  };
});

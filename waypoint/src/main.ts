// waypoint: flags and environment → startWaypoint. See waypoint/README.md.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { portFlag, ports, requiredFlag, runUntilSignal } from '@ambient/api';
import { parseStoreAddress } from '@ambient/api/mesh-policy';
import { tokenFromFile } from '@ambient/api/proxy-runtime';
import { startWaypoint } from './app.ts';

const env = process.env;
const { values } = parseArgs({
  options: {
    'gateway-name': { type: 'string', default: env.GATEWAY_NAME },
    'gateway-namespace': { type: 'string', default: env.GATEWAY_NAMESPACE ?? env.POD_NAMESPACE },
    'pod-name': { type: 'string', default: env.POD_NAME ?? '' },
    istiod: { type: 'string', default: env.ISTIOD_ADDRESS ?? `istiod.istio-system.svc:${ports.istiodGrpc}` },
    'root-cert': { type: 'string', default: env.ROOT_CERT_FILE ?? '/var/run/secrets/istio/root-cert.pem' },
    'token-file': { type: 'string', default: env.AMBIENT_SA_TOKEN_FILE ?? '/var/run/secrets/tokens/istio-token' },
    'trust-domain': { type: 'string', default: env.TRUST_DOMAIN ?? 'cluster.local' },
    'cert-ttl': { type: 'string', default: env.CERT_TTL_SECONDS ?? '86400' },
    'hbone-host': { type: 'string', default: env.WAYPOINT_HBONE_HOST ?? '0.0.0.0' },
    'hbone-port': { type: 'string', default: env.WAYPOINT_HBONE_PORT ?? String(ports.hbone) },
    host: { type: 'string', default: env.WAYPOINT_HOST ?? '127.0.0.1' },
    'admin-port': { type: 'string', default: env.WAYPOINT_ADMIN_PORT ?? String(ports.admin) },
    'metrics-port': { type: 'string', default: env.WAYPOINT_METRICS_PORT ?? String(ports.metrics) },
    'readiness-port': { type: 'string', default: env.WAYPOINT_READINESS_PORT ?? String(ports.readiness) },
    'redis-address': { type: 'string', default: env.REDIS_ADDRESS ?? '' },
    'log-level': { type: 'string', default: env.LOG_LEVEL ?? 'info' },
  },
});

const redisAddress = values['redis-address'] ?? '';
if (redisAddress !== '' && parseStoreAddress(redisAddress) === undefined) {
  process.stderr.write(`waypoint: --redis-address ${JSON.stringify(redisAddress)}: expected host:port\n`);
  process.exit(2);
}

const logger = pino({ level: values['log-level'], base: { component: 'waypoint', gateway: `${values['gateway-namespace']}/${values['gateway-name']}` } });
await runUntilSignal('waypoint', logger, async () => {
  const waypoint = await startWaypoint({
    gatewayName: requiredFlag('gateway-name', values['gateway-name']),
    gatewayNamespace: requiredFlag('gateway-namespace', values['gateway-namespace']),
    podName: values['pod-name'],
    istiodAddress: values.istiod,
    rootCertPem: readFileSync(values['root-cert'], 'utf8'),
    token: tokenFromFile(values['token-file']),
    trustDomain: values['trust-domain'],
    certTtlSeconds: Number(values['cert-ttl']),
    hbone: { host: values['hbone-host'], port: portFlag('hbone-port', values['hbone-port']) },
    host: values.host,
    adminPort: portFlag('admin-port', values['admin-port']),
    metricsPort: portFlag('metrics-port', values['metrics-port']),
    readinessPort: portFlag('readiness-port', values['readiness-port']),
    ...(redisAddress ? { redisAddress } : {}),
    logger,
  });
  return {
    ready: { hbone: waypoint.hboneAddress, admin: waypoint.adminUrl, metrics: waypoint.metricsUrl, readiness: waypoint.readyUrl },
    stop: () => waypoint.stop(),
  };
});

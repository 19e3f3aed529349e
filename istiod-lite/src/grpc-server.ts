// One TLS gRPC server for discovery and the CA (15012), with a serving certificate from the
// mesh CA, and optionally the same services on a Unix socket (the local cluster's node
// processes reach the host that way).
import { rmSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { issueCertificate } from '@ambient/api';
import {
  aggregatedDiscoveryServiceDefinition,
  certificateServiceDefinition,
  discoveryKeepalive,
  discoveryServerKeepaliveOptions,
  type DiscoveryKeepalive,
} from '@ambient/api/grpc';
import type { MeshCa } from './ca/ca-keys.ts';
import type { CertificateService } from './ca/certificate-service.ts';
import type { DiscoveryService } from './xds/discovery-server.ts';

/** Hostname the server's certificate is for (clients set it as the TLS server name). */
export const istiodServerName = 'istiod.istio-system.svc';

export interface GrpcServerOptions {
  ca: MeshCa;
  clusterDomain: string;
  host: string;
  /** 0 = ephemeral. */
  port: number;
  udsPath?: string;
  discovery: DiscoveryService;
  certificates: CertificateService;
  /** PING a connection after this much silence, drop it when unanswered (default 30 s, 10 s). */
  keepalive?: Partial<DiscoveryKeepalive>;
  /** How long close() lets calls finish before it cuts them (default 5 s). */
  shutdownGraceMs?: number;
}

export interface IstiodGrpcServer {
  port: number;
  /** `unix:<path>` when udsPath was given. */
  udsAddress?: string;
  close(): Promise<void>;
}

export async function startGrpcServer(opts: GrpcServerOptions): Promise<IstiodGrpcServer> {
  const serving = issueCertificate({
    ca: opts.ca.signer,
    commonName: 'istiod',
    dnsNames: [istiodServerName, `${istiodServerName}.${opts.clusterDomain}`, 'localhost'],
    ipAddresses: ['127.0.0.1'],
    validityDays: 365,
  });
  const server = new grpc.Server({
    'grpc.max_send_message_length': 256 * 1024 * 1024,
    // Drops the streams of proxies that vanished without a FIN (otherwise counted, pushed to and
    // held for ever), and accepts the clients' own PINGs (every 30 s, stream or not).
    ...discoveryServerKeepaliveOptions({ ...discoveryKeepalive, ...opts.keepalive }),
  });
  server.addService(aggregatedDiscoveryServiceDefinition, opts.discovery.handlers);
  server.addService(certificateServiceDefinition, opts.certificates.handlers);
  const credentials = grpc.ServerCredentials.createSsl(
    null,
    [{ cert_chain: Buffer.from([serving.certPem, ...opts.ca.chain.slice(0, -1)].join('')), private_key: Buffer.from(serving.keyPem) }],
    false,
  );
  const bind = (address: string): Promise<number> =>
    new Promise((ready, fail) => server.bindAsync(address, credentials, (err, port) => (err ? fail(err) : ready(port))));
  // Graceful, but bounded: grpc-js' tryShutdown never calls back for a session that was destroyed
  // (a keepalive failure) and has not closed yet, which would hang the drain.
  const close = (): Promise<void> =>
    new Promise((done) => {
      const force = setTimeout(() => {
        server.forceShutdown();
        done();
      }, opts.shutdownGraceMs ?? 5000);
      server.tryShutdown(() => {
        clearTimeout(force);
        done();
      });
    });
  try {
    const port = await bind(`${opts.host}:${opts.port}`);
    if (opts.udsPath) {
      rmSync(opts.udsPath, { force: true }); // a socket file left by a previous run
      await bind(`unix:${opts.udsPath}`);
    }
    return { port, ...(opts.udsPath ? { udsAddress: `unix:${opts.udsPath}` } : {}), close };
  } catch (err) {
    await close();
    throw err;
  }
}

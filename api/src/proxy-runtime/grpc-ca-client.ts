// The mesh CA as seen from ztunnel: istiod-lite's `CreateCertificate` over TLS, authenticated
// with ztunnel's ServiceAccount token. The token is read per request so a rotated token file
// is picked up without a restart.
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { CertificateServiceClient, type CaCertificateResponse } from '../grpc-protos.ts';
import { IdentityError } from './identity-error.ts';

export interface CaClient {
  /** Signs `csrPem` for `impersonatedIdentity`; resolves to the PEM chain, leaf first, root last. */
  createCertificate(csrPem: string, ttlSeconds: number, impersonatedIdentity: string): Promise<string[]>;
}

export interface GrpcCaClientOptions {
  /** host:port of istiod-lite's CA (15012). */
  address: string;
  /** The mesh root that the CA's serving certificate must chain to. */
  rootCertPem: string;
  /** The name the CA's serving certificate must carry (default istiod.istio-system.svc). */
  servername?: string;
  token: () => string | Promise<string>;
  /** Per-call deadline, so a CA that hangs does not hold a certificate request forever. */
  timeoutMs?: number;
}

// Statuses that say "this request will not be granted as sent" rather than "try again later".
const DENIED = new Set<number>([grpc.status.UNAUTHENTICATED, grpc.status.PERMISSION_DENIED, grpc.status.INVALID_ARGUMENT, grpc.status.FAILED_PRECONDITION]);

export function grpcCaClient(opts: GrpcCaClientOptions): CaClient & { close(): void } {
  const servername = opts.servername ?? 'istiod.istio-system.svc';
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const credentials = grpc.credentials.createSsl(Buffer.from(opts.rootCertPem));
  const client = new CertificateServiceClient(opts.address, credentials, {
    'grpc.ssl_target_name_override': servername,
    'grpc.default_authority': servername,
  });

  async function createCertificate(csrPem: string, ttlSeconds: number, impersonatedIdentity: string): Promise<string[]> {
    let token: string;
    try {
      token = await opts.token();
    } catch (err) {
      throw new IdentityError(
        'ERR_CA_UNAVAILABLE',
        `cannot read the serviceaccount token for the ca at ${opts.address}: ${(err as Error)?.message ?? String(err)}`,
        { cause: err },
      );
    }
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    const request = { csr: csrPem, validityDuration: ttlSeconds, impersonatedIdentity };
    const response = await new Promise<CaCertificateResponse>((resolve, reject) => {
      client.CreateCertificate(request, metadata, { deadline: Date.now() + timeoutMs }, (err, value) => {
        if (err) reject(toIdentityError(err, opts.address, impersonatedIdentity));
        else resolve(value ?? {});
      });
    });
    return response.certChain ?? [];
  }

  return { createCertificate, close: () => client.close() };
}

function toIdentityError(err: grpc.ServiceError, address: string, identity: string): IdentityError {
  const code = DENIED.has(err.code) ? 'ERR_CA_DENIED' : 'ERR_CA_UNAVAILABLE';
  const verb = code === 'ERR_CA_DENIED' ? 'refused' : 'failed';
  const status = grpc.status[err.code] ?? String(err.code);
  return new IdentityError(code, `ca at ${address} ${verb} a certificate for ${identity} (${status}): ${err.details || err.message}`, { cause: err });
}

/** Reads a ServiceAccount token file per call, so a refreshed projected token is picked up. */
export function tokenFromFile(path: string): () => string {
  return () => readFileSync(path, 'utf8').trim();
}

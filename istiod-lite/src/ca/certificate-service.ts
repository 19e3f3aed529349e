// The `CreateCertificate` RPC of `ambient.ca.v1.CertificateService`: authenticate the caller's
// ServiceAccount token, decide with authorizeCertificate, sign, answer leaf → root. Every
// denial is a gRPC status whose message says why, logged once here and counted by reason.
import { status as GrpcStatus, type Metadata } from '@grpc/grpc-js';
import { PkiError, parseCsr, signParsedCsr, type ParsedCsr } from '@ambient/api';
import type { CaCertificateRequest, CaCertificateResponse, CertificateServiceHandlers } from '@ambient/api/grpc';
import type { Logger } from 'pino';
import { UnauthenticatedError, type Authenticator, type Caller } from '../auth/caller.ts';
import type { IstiodMetrics } from '../metrics.ts';
import type { PodLookup } from '../kube/pod-lookup.ts';
import { authorizeCertificate, type CertificatePolicy, type CsrFacts } from './authorize-certificate.ts';
import type { MeshCa } from './ca-keys.ts';
import { MeshError } from '@ambient/api';

export interface CertificateServiceOptions {
  ca: MeshCa;
  authenticator: Authenticator;
  pods: PodLookup;
  metrics: IstiodMetrics;
  logger: Logger;
  trustDomain?: string;
  rootNamespace?: string;
  ztunnelServiceAccount?: string;
  maxTtlSeconds?: number;
  defaultTtlSeconds?: number;
  /** Monotonic-enough clock in ms for the latency metric, for tests. */
  now?: () => number;
}

export interface CertificateService {
  /** For `server.addService(certificateServiceDefinition, service.handlers)` (both from @ambient/api/grpc). */
  handlers: CertificateServiceHandlers;
  /** The same logic without gRPC callback plumbing; rejects with CertificateDeniedError (counted and logged). */
  issue(request: CaCertificateRequest, metadata: Metadata, peer?: string): Promise<CaCertificateResponse>;
}

export class CertificateDeniedError extends MeshError<'ERR_CERTIFICATE_DENIED'> {
  readonly grpcCode: GrpcStatus;
  readonly reason: string;
  constructor(grpcCode: GrpcStatus, reason: string, message: string, options?: { cause?: unknown }) {
    super('ERR_CERTIFICATE_DENIED', message, options);
    this.grpcCode = grpcCode;
    this.reason = reason;
  }
}

const DAY_SECONDS = 24 * 60 * 60;

export function createCertificateService(opts: CertificateServiceOptions): CertificateService {
  const policy: CertificatePolicy = {
    trustDomain: opts.trustDomain ?? 'cluster.local',
    rootNamespace: opts.rootNamespace ?? 'istio-system',
    ztunnelServiceAccount: opts.ztunnelServiceAccount ?? 'ztunnel',
    defaultTtlSeconds: opts.defaultTtlSeconds ?? DAY_SECONDS,
    maxTtlSeconds: opts.maxTtlSeconds ?? 90 * DAY_SECONDS,
  };
  const { metrics, ca } = opts;
  const log = opts.logger.child({ component: 'ca' });
  const now = opts.now ?? (() => performance.now());

  async function issue(request: CaCertificateRequest, metadata: Metadata, peer = 'unknown'): Promise<CaCertificateResponse> {
    metrics.csrs.inc();
    try {
      return await decideAndSign(request, metadata);
    } catch (err) {
      const denial =
        err instanceof CertificateDeniedError
          ? err
          : new CertificateDeniedError(GrpcStatus.INTERNAL, 'internal', `internal error: ${(err as Error)?.message ?? String(err)}`, { cause: err });
      metrics.certsDenied.inc({ reason: denial.reason });
      const level = denial.grpcCode === GrpcStatus.INTERNAL || denial.grpcCode === GrpcStatus.UNAVAILABLE ? 'error' : 'warn';
      log[level]({ reason: denial.reason, peer, err: level === 'error' ? denial.cause : undefined }, denial.message);
      throw denial;
    }
  }

  async function decideAndSign(request: CaCertificateRequest, metadata: Metadata): Promise<CaCertificateResponse> {
    const caller = await authenticate(opts.authenticator, metadata);
    // Latency covers what this process does (parse, decide, sign), not the TokenReview round trip.
    const started = now();
    const parsed = readCsr(request.csr ?? '');
    const csr: CsrFacts = {
      uris: parsed.uris,
      dnsNames: parsed.dnsNames,
      signatureValid: parsed.signatureValid,
      keyType: parsed.keyType,
      namedCurve: parsed.namedCurve,
    };
    const decision = authorizeCertificate(
      {
        caller,
        csr,
        impersonatedIdentity: request.impersonatedIdentity ?? '',
        // int64 arrives as a number (longs: Number); a client with other loader options may send a string.
        ttlSeconds: request.validityDuration === undefined ? 0 : Number(request.validityDuration),
      },
      opts.pods,
      policy,
    );
    if (!decision.allowed) {
      const code = decision.status === 'invalid-argument' ? GrpcStatus.INVALID_ARGUMENT : GrpcStatus.PERMISSION_DENIED;
      throw new CertificateDeniedError(code, decision.reason, decision.message);
    }
    let leaf: string;
    try {
      leaf = signParsedCsr({ ca: ca.signer, csr: parsed, uris: [decision.spiffeId], dnsNames: [], validitySeconds: decision.ttlSeconds });
    } catch (err) {
      throw new CertificateDeniedError(GrpcStatus.INTERNAL, 'internal', `signing failed: ${(err as Error).message}`, { cause: err });
    }
    metrics.certsIssued.inc();
    metrics.signLatency.observe((now() - started) / 1000);
    log.debug({ caller: caller.username, node: caller.nodeName, identity: decision.spiffeId, ttlSeconds: decision.ttlSeconds }, 'certificate issued');
    return { certChain: [leaf, ...ca.chain] };
  }

  const handlers: CertificateServiceHandlers = {
    CreateCertificate(call, callback) {
      issue(call.request, call.metadata, call.getPeer()).then(
        (response) => callback(null, response),
        (err: CertificateDeniedError) => callback({ code: err.grpcCode, details: err.message }),
      );
    },
  };
  return { handlers, issue };
}

async function authenticate(authenticator: Authenticator, metadata: Metadata): Promise<Caller> {
  const header = metadata.get('authorization').find((v): v is string => typeof v === 'string');
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (match === null) {
    throw new CertificateDeniedError(
      GrpcStatus.UNAUTHENTICATED,
      'unauthenticated',
      'missing bearer token: send "authorization: Bearer <serviceaccount token>" metadata',
    );
  }
  try {
    return await authenticator.authenticate(match[1]!);
  } catch (err) {
    if (err instanceof UnauthenticatedError) throw new CertificateDeniedError(GrpcStatus.UNAUTHENTICATED, 'unauthenticated', err.message, { cause: err });
    // The API server could not be asked: say so instead of blaming the token, and grant nothing.
    throw new CertificateDeniedError(GrpcStatus.UNAVAILABLE, 'auth-unavailable', `cannot review the token: ${(err as Error)?.message ?? String(err)}`, {
      cause: err,
    });
  }
}

function readCsr(csrPem: string): ParsedCsr {
  if (csrPem.trim() === '') throw new CertificateDeniedError(GrpcStatus.INVALID_ARGUMENT, 'bad-csr', 'csr is empty');
  try {
    return parseCsr(csrPem);
  } catch (err) {
    const message = err instanceof PkiError ? err.message : `malformed csr: ${(err as Error).message}`;
    throw new CertificateDeniedError(GrpcStatus.INVALID_ARGUMENT, 'bad-csr', message, { cause: err });
  }
}

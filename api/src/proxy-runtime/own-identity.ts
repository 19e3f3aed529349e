// The one identity a waypoint or a sidecar holds (ztunnel holds its pods' instead): the CA
// client, the SecretManager that keeps the certificate fresh, and the certificate as servers and
// upstreams ask for it per connection, so that a rotation applies at once and, with none valid
// (not issued yet, expired without a refresh), a connection is refused rather than presented an
// expired certificate.
import type tls from 'node:tls';
import type { Logger } from 'pino';
import type { ProxyRuntimeOptions } from './admin-servers.ts';
import { grpcCaClient } from './grpc-ca-client.ts';
import { IdentityError } from './identity-error.ts';
import { SecretManager } from './secret-manager.ts';

export interface OwnIdentity {
  readonly identity: string;
  readonly secrets: SecretManager;
  /** The current certificate's context; throws ERR_CERT_UNAVAILABLE when none is valid. */
  certificate(): tls.SecureContext;
  close(): void;
}

export function ownIdentity(
  identity: string,
  opts: Pick<ProxyRuntimeOptions, 'istiodAddress' | 'istiodServerName' | 'rootCertPem' | 'token' | 'certTtlSeconds'>,
  logger: Logger,
): OwnIdentity {
  const { rootCertPem, token, istiodServerName: servername } = opts;
  const ca = grpcCaClient({ address: opts.istiodAddress, rootCertPem, ...(servername ? { servername } : {}), token });
  const secrets = new SecretManager({
    ca,
    rootCertPem,
    impersonate: false,
    ...(opts.certTtlSeconds ? { ttlSeconds: opts.certTtlSeconds } : {}),
    logger: logger.child({ component: 'identity' }),
  });
  return {
    identity,
    secrets,
    certificate: () => {
      const cert = secrets.current(identity);
      if (cert === undefined)
        throw new IdentityError('ERR_CERT_UNAVAILABLE', `no valid certificate for ${identity} (not issued yet, or expired without a refresh)`);
      return cert.secureContext;
    },
    close: () => {
      secrets.close();
      ca.close();
    },
  };
}

// Every failure of the identity layer, with a stable code a caller can switch on. The boundary
// that handles a connection maps ERR_CERT_UNAVAILABLE to "cannot originate/accept mTLS now".
import { MeshError } from '../errors.ts';

export type IdentityErrorCode =
  /** The CA refused the request (bad token, identity not on this node, malformed CSR). */
  | 'ERR_CA_DENIED'
  /** The CA could not be reached or failed internally; worth retrying. */
  | 'ERR_CA_UNAVAILABLE'
  /** The CA answered with a chain we must not use (wrong SAN, wrong root, wrong key, expired). */
  | 'ERR_CERT_INVALID'
  /** No valid certificate for the identity right now (never issued, expired, forgotten, closed). */
  | 'ERR_CERT_UNAVAILABLE'
  /** The identity asked for is not a workload SPIFFE ID. */
  | 'ERR_IDENTITY_INVALID';

export class IdentityError extends MeshError<IdentityErrorCode> {}

// Errors of the HBONE layer. Codes are stable (logs, metrics and tests key on them); the table
// below is the one place where an HTTP status on the wire maps to a code and back.
import { MeshError } from '@ambient/api';

export type HboneErrorCode =
  | 'ERR_HBONE_BAD_REQUEST'       // 400: not a CONNECT, or an authority that is not a local workload
  | 'ERR_HBONE_DENIED'            // 401: L4 policy
  | 'ERR_HBONE_UNAVAILABLE'       // 503: the destination app is unreachable
  | 'ERR_HBONE_STATUS'            // any other non-200
  | 'ERR_HBONE_IDENTITY_MISMATCH' // the peer's SPIFFE ID is not one we expected
  | 'ERR_HBONE_UNTRUSTED_PEER'    // chain not to the mesh root, wrong trust domain, no certificate
  | 'ERR_HBONE_NO_H2'             // ALPN did not settle on h2
  | 'ERR_HBONE_CONNECT'           // TCP/TLS to the HBONE address failed
  | 'ERR_HBONE_STREAM_REFUSED'    // the peer reset the stream (e.g. REFUSED_STREAM at its cap)
  | 'ERR_HBONE_BAD_ADDRESS'       // not an ip:port
  | 'ERR_HBONE_POOL_CLOSED';

export class HboneError extends MeshError<HboneErrorCode> {
  readonly status: number | undefined;
  constructor(code: HboneErrorCode, message: string, options?: { cause?: unknown; status?: number }) {
    super(code, message, options);
    this.status = options?.status;
  }
}

const CODE_BY_STATUS: ReadonlyMap<number, HboneErrorCode> = new Map([
  [400, 'ERR_HBONE_BAD_REQUEST'],
  [401, 'ERR_HBONE_DENIED'],
  [503, 'ERR_HBONE_UNAVAILABLE'],
]);

export function hboneCodeForStatus(status: number): HboneErrorCode {
  return CODE_BY_STATUS.get(status) ?? 'ERR_HBONE_STATUS';
}

/** The error a client raises for a CONNECT answered with a non-200 status. */
export function hboneStatusError(status: number, authority: string): HboneError {
  return new HboneError(hboneCodeForStatus(status), `hbone connect to ${authority} answered ${status}`, { status });
}

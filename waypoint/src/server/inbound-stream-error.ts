// Why the waypoint cut (or could not serve) a CONNECT stream itself (the HBONE relay then resets it, and its
// InboundRecord carries this error's message as `error` with outcome `reset`).
import { MeshError } from '@ambient/api';

export type InboundStreamErrorCode =
  /** The waypoint ended the stream (idle, bad request, drain) and the client did not end its side in time. */
  | 'ERR_WAYPOINT_LINGER_TIMEOUT'
  /** The server closed and the stream was still open when the drain period ran out. */
  | 'ERR_WAYPOINT_DRAIN_TIMEOUT'
  /** The HBONE peer's identity is not a workload SPIFFE ID (the HBONE server refuses those first). */
  | 'ERR_WAYPOINT_BAD_SOURCE';

export class InboundStreamError extends MeshError<InboundStreamErrorCode> {}

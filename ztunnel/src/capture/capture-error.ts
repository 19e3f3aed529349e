// Errors of the capture component. Codes are stable: callers and tests match on them.
import { MeshError } from '@ambient/api';
export type CaptureErrorCode =
  | 'ERR_NATIVE_NOT_BUILT' // the addon's .node file is missing or does not load
  | 'ERR_NETNS_SOCKET' // a socket could not be created, bound or listened on inside a netns
  | 'ERR_ORIGINAL_DST' // SO_ORIGINAL_DST failed (the connection was not redirected)
  | 'ERR_SOCKET_FD' // a Node socket has no usable file descriptor
  | 'ERR_CAPTURE_CONFIG' // capture settings out of range (ports, mark)
  | 'ERR_CAPTURE_RULES'; // iptables in the pod's netns refused or failed

export class CaptureError extends MeshError<CaptureErrorCode> {}

// Which of its pod's outbound connections a sidecar serves through its L7 stack: a service it
// has the config of (istiod-lite sends every mesh service without a waypoint), on a port that
// is not declared TCP, with at least one endpoint reachable over HBONE. Everything else takes
// the L4 path, as in ambient mode: a service with a waypoint goes to its waypoint (which
// applies that service's L7 policy), a destination outside the mesh is passed through.
import type { SocketAddress } from '@ambient/hbone';
import { protocolForPort, type WaypointState } from '@ambient/waypoint';

export function servesL7(state: WaypointState, dst: SocketAddress): boolean {
  const served = state.served(dst.ip, dst.port);
  if (served?.kind !== 'service' || protocolForPort(served.port) === 'tcp') return false;
  return state.endpoints(served.service.hostname, dst.port).length > 0;
}

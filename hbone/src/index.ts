// HBONE both ends, as one entry point (`@ambient/hbone`): ztunnel, the waypoint, benchmarks and
// tools import it; it imports nothing of theirs.
export {
  connectionOutcomes,
  outcomeForStatus,
  outcomeRow,
  type ConnectionOutcome,
  type HboneOutcome,
  type OutcomeRow,
  type RefusalStatusOutcome,
} from './connection-outcome.ts';
export { HbonePool, poolKey, type HboneConnectRequest, type HbonePoolOptions, type HboneSource } from './hbone-pool.ts';
export {
  createHboneServer,
  HboneServer,
  type ActiveInbound,
  type AuthorizeDecision,
  type ConnectionRefusal,
  type HboneServerOptions,
  type HboneServerStats,
  type InboundRecord,
  type InboundRequest,
} from './hbone-server.ts';
export { relay, type RelayCounters, type RelayOptions, type RelayResult } from './relay.ts';
export { HboneError, hboneCodeForStatus, hboneStatusError, type HboneErrorCode } from './hbone-error.ts';
export { formatBaggage, formatForwarded, newTraceparent } from './hbone-headers.ts';
export { chainProblem, checkExpectedIdentity, uriSans } from './peer-identity.ts';
export { formatSocketAddress, isSocketAddress, parseSocketAddress, type SocketAddress } from './socket-address.ts';

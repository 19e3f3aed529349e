// The upstream client's entry point for the rest of the waypoint.
export type { Endpoint, EndpointProtocol, UpstreamHeaders, UpstreamRequest, UpstreamResponse } from './endpoint.ts';
export { EndpointClient, endpointKey, type EndpointClientOptions } from './endpoint-client.ts';
export {
  classifyUpstreamFailure,
  EndpointError,
  endpointErrorCodes,
  endpointFailure,
  type Classification,
  type EndpointErrorCode,
  type EndpointErrorRow,
  type ExchangePhase,
  type FailureContext,
  type UpstreamResponseFlag,
} from './endpoint-error.ts';
export { downstreamResponseHeaders, flattenTrailers, upstreamRequestHeaders } from './upstream-headers.ts';

// Keepalive on the discovery stream, both ends. The stream can stay silent for hours (nothing
// changes), and a peer that vanished without a FIN or RST (a node gone, a NAT or load balancer
// that dropped the flow) leaves TCP waiting for a write that never comes: the proxy keeps a
// frozen configuration without knowing it is cut off, istiod keeps a ghost stream. An HTTP/2
// PING with a deadline proves the path; when it goes unanswered the transport fails, the stream
// ends UNAVAILABLE and the client reconnects.
//
// The numbers are Istio's: its agents ping istiod every 30 s and give up after 10 s, and istiod
// enforces a 15 s minimum between a client's pings (gRPC servers that enforce one — C-core, Go —
// answer faster pings with GOAWAY ENHANCE_YOUR_CALM "too_many_pings", and the client then halves
// its rate for good). grpc-js, which istiod-lite serves with, enforces none; the limits are set
// anyway so that any server speaking for istiod-lite accepts what the client sends.
import type * as grpc from '@grpc/grpc-js';

export interface DiscoveryKeepalive {
  /** Idle time before a PING. */
  timeMs: number;
  /** How long a PING may go unanswered before the connection is given up. */
  timeoutMs: number;
}

export const discoveryKeepalive: Readonly<DiscoveryKeepalive> = { timeMs: 30_000, timeoutMs: 10_000 };

/** The least interval between a client's PINGs that a discovery server tolerates. */
export const discoveryMinPingIntervalMs = 15_000;

/** Channel options of a discovery client (DeltaXdsClient). */
export function discoveryClientKeepaliveOptions(keepalive: Readonly<DiscoveryKeepalive> = discoveryKeepalive): grpc.ChannelOptions {
  return {
    'grpc.keepalive_time_ms': keepalive.timeMs,
    'grpc.keepalive_timeout_ms': keepalive.timeoutMs,
    // Between streams (reconnecting) the connection is still worth watching.
    'grpc.keepalive_permit_without_calls': 1,
    // C-core stops pinging after 2 PINGs without data by default: a quiet stream is the point.
    'grpc.http2.max_pings_without_data': 0,
  };
}

/** Server options of a discovery server (istiod-lite's 15012). */
export function discoveryServerKeepaliveOptions(keepalive: Readonly<DiscoveryKeepalive> = discoveryKeepalive): grpc.ServerOptions {
  return {
    'grpc.keepalive_time_ms': keepalive.timeMs,
    'grpc.keepalive_timeout_ms': keepalive.timeoutMs,
    'grpc.http2.min_ping_interval_without_data_ms': discoveryMinPingIntervalMs,
    'grpc.http2.max_pings_without_data': 0,
  };
}

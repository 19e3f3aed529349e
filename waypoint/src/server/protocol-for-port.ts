// Which protocol a service port declares, by Istio's rules (pkg/config/kube ConvertProtocol and
// pkg/config/protocol Parse), so the same Service manifests mean the same thing here:
// - `appProtocol`, when set, is read instead of the port name (never both);
// - `kubernetes.io/h2c` is HTTP/2 with prior knowledge, `kubernetes.io/ws` HTTP/1.1 (WebSocket);
// - else the name's prefix up to the first '-' (`http-web` → http), case-insensitive, with
//   `grpc-web` matched before the split because it contains a '-';
// - a name Istio does not know leaves the protocol to detection, except on the well-known
//   server-first ports (SMTP 25, DNS 53, MySQL 3306, MongoDB 27017), which are TCP because the
//   client never speaks first and detection would only add its timeout.
//
// Only the serving choice is kept: what the waypoint parses (HTTP/1.1, HTTP/2) or relays as
// opaque bytes. https, tls, mongo, redis and mysql carry nothing the waypoint parses: TCP.

/** How a target is served: HTTP/1.1, h2c (HTTP/2 prior knowledge, gRPC), opaque TCP, or sniffed. */
export type ServedProtocol = 'http1' | 'http2' | 'tcp' | 'detect';

/** The fields of a service port that declare its protocol (`Port` in @ambient/api carries them). */
export interface DeclaredPort {
  name?: string;
  appProtocol?: string;
  /** The service port: only consulted for the well-known server-first ports. */
  servicePort?: number;
}

const byIstioName: ReadonlyMap<string, ServedProtocol> = new Map([
  ['http', 'http1'],
  ['http_proxy', 'http1'],
  ['http2', 'http2'],
  ['grpc', 'http2'],
  ['tcp', 'tcp'],
  ['https', 'tcp'],
  ['tls', 'tcp'],
  ['mongo', 'tcp'],
  ['redis', 'tcp'],
  ['mysql', 'tcp'],
  // Istio declares UDP but never proxies it; whatever reaches us over HBONE is a TCP stream.
  ['udp', 'tcp'],
]);

const byAppProtocol: ReadonlyMap<string, ServedProtocol> = new Map([
  ['kubernetes.io/h2c', 'http2'],
  ['kubernetes.io/ws', 'http1'],
  // WebSocket over TLS: encrypted end to end, nothing for the waypoint to parse.
  ['kubernetes.io/wss', 'tcp'],
]);

const serverFirstPorts: ReadonlySet<number> = new Set([25, 53, 3306, 27017]);

export function protocolForPort(port: DeclaredPort): ServedProtocol {
  const declared = port.appProtocol !== undefined && port.appProtocol !== '' ? port.appProtocol : (port.name ?? '');
  const lower = declared.toLowerCase();
  const kubernetes = byAppProtocol.get(lower);
  if (kubernetes !== undefined) return kubernetes;
  // Istio's GRPCWeb is an HTTP/2 protocol (IsHTTP2); browsers send it over HTTP/1.1 too, and the
  // server picks the codec from the first bytes on any HTTP port.
  if (lower.startsWith('grpc-web')) return 'http2';
  const dash = lower.indexOf('-');
  const known = byIstioName.get(dash >= 0 ? lower.slice(0, dash) : lower);
  if (known !== undefined) return known;
  return port.servicePort !== undefined && serverFirstPorts.has(port.servicePort) ? 'tcp' : 'detect';
}

// What the waypoint's decisions (route, authorization, retry, telemetry) read about one request
// and its source: plain data taken once at the server boundary, so each decision is a pure
// function over it and tests build it as a literal.

export type HeaderMap = Readonly<Record<string, string | string[] | undefined>>;

export interface RequestFacts {
  /** Upper-case HTTP method. */
  method: string;
  /** The request target as received: path and query ('/a/b?x=1'). */
  path: string;
  /** Host (HTTP/1.1) or :authority (HTTP/2) as received. */
  authority: string;
  /** Header names lower-case, as Node's http and http2 give them. */
  headers: HeaderMap;
  /** The service (or workload) port the client addressed: the port of the CONNECT authority. */
  port: number;
  /** Set for gRPC (content-type application/grpc and a path /pkg.Service/Method). */
  grpc?: { service: string; method: string };
}

export interface SourceFacts {
  /** The HBONE peer's SPIFFE ID, proven by its certificate: the source workload's identity. */
  identity: string;
  /** The source workload's namespace (from the identity). */
  namespace: string;
  /** The source workload's IP (from `forwarded` on the HBONE CONNECT, else the peer address). */
  ip: string;
}

// gRPC names the call in the HTTP/2 :path: "/" Service-Name "/" Method-Name, the service name
// being fully qualified ("/pkg.Service/Method"), per the gRPC over HTTP/2 protocol spec. The
// server boundary uses this to fill RequestFacts.grpc, which GRPCRoute matches read.

export interface GrpcCall {
  service: string;
  method: string;
}

/** The service and method a gRPC request names, or undefined when the path is not of that form. */
export function parseGrpcPath(path: string): GrpcCall | undefined {
  if (path.charCodeAt(0) !== 0x2f /* / */) return undefined;
  const slash = path.indexOf('/', 1);
  // Exactly two non-empty segments: a third segment or a query means this is not a gRPC method path.
  if (slash <= 1 || slash === path.length - 1) return undefined;
  if (path.indexOf('/', slash + 1) !== -1 || path.indexOf('?') !== -1) return undefined;
  return { service: path.slice(1, slash), method: path.slice(slash + 1) };
}

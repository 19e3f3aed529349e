// The gRPC side of the shared API (`@ambient/api/grpc`): proto loading, Any packing, service
// definitions and the delta discovery client. A separate entry point so that importing
// `@ambient/api` (PKI, mesh types) does not load gRPC and the protos.
export * from './grpc-protos.ts';
export * from './xds/index.ts';

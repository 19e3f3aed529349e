// What every mesh proxy process needs besides HBONE (`@ambient/api/proxy-runtime`): workload
// certificates from the mesh CA (SecretManager over the gRPC CA client) and the admin, metrics
// and readiness ports. ztunnel and the waypoint both run on it. A separate entry point so that
// importing `@ambient/api` does not load gRPC.
export * from './admin-servers.ts';
export * from './authorization-match.ts';
export * from './grpc-ca-client.ts';
export * from './identity-error.ts';
export * from './own-identity.ts';
export * from './refresh-at.ts';
export * from './secret-manager.ts';
export * from './verify-issued-chain.ts';
export * from './state/convert-resource.ts';
export { toCidr, toMatch, toStringMatch } from './state/convert-authorization.ts';
export { toGatewayAddress, toPort } from './state/convert-address.ts';
export * from './state/invalid-resource-error.ts';
export * from './state/ip-address.ts';
export * from './state/proxy-state.ts';
export * from './state/wire-fields.ts';

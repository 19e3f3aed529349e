export * from './grpc-ca-client.ts';
export * from './identity-error.ts';
export * from './refresh-at.ts';
export * from './secret-manager.ts';
export * from './verify-issued-chain.ts';

export * from './errors.ts';
export * from './pki.ts';
export * from './mesh-types.ts';
export * from './spiffe-id.ts';
export * from './node-agent.ts';

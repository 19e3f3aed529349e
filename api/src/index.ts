export * from './errors.ts';
export * from './pki.ts';
export * from './mesh-types.ts';
export * from './spiffe-id.ts';
export * from './node-agent.ts';
export * from './backoff.ts';
export * from './timers.ts';
export * from './well-known.ts';

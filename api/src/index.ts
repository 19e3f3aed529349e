export * from './pki.ts';
export * from './mesh-types.ts';

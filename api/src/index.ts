export * from './pki.ts';

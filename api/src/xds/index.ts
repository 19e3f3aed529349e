export * from './backoff.ts';
export * from './delta-client.ts';

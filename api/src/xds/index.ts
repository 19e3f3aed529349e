export * from './delta-client.ts';

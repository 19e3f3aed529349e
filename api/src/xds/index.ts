export * from './delta-client.ts';
export * from './state-subscription.ts';
export * from './discovery-keepalive.ts';

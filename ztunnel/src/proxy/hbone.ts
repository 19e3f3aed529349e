// The HBONE pieces as one entry point (`@ambient/ztunnel/hbone`), for benchmarks and tools.
export { HbonePool, type HboneConnectRequest, type HboneSource } from './hbone-pool.ts';
export { createHboneServer, type HboneServer, type HboneServerOptions } from './hbone-server.ts';

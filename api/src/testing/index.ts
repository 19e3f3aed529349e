// Test support shared by the workspaces' tests (`@ambient/api/testing`): discovery wire fixtures
// for ProxyState, a mesh CA served over gRPC on port 0, a fake clock, a real redis-server. Tests
// import it; no src file does (scripts/check-imports.ts).
export * from './fake-clock.ts';
export * from './state-fixtures.ts';
export * from './test-ca-server.ts';
export * from './silencing-relay.ts';
export * from './redis-server.ts';
export * from './seeded-random.ts';
export * from './capturing-logger.ts';

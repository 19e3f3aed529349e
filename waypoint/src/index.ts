// The waypoint's public entry: what a sidecar reuses (the L7 core fed by captured connections,
// the state it follows). The waypoint process itself starts from main.ts.
export { WaypointState, type ServedTarget } from './config/waypoint-state.ts';
export { createL7Core, type L7Core, type L7CoreOptions } from './l7-core.ts';
export { protocolForPort } from './server/protocol-for-port.ts';

export { startSidecar, type Sidecar, type SidecarOptions } from './app.ts';

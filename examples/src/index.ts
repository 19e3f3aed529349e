// Where the sample app lives, for the local cluster (kubelet binPath, demo manifests) and tests.
import path from 'node:path';

const ROOT = path.join(import.meta.dirname, '..');

/** Put this on a pod's PATH (with Node 24's directory) so `command: ["ambient-echo", ...]` runs. */
export const examplesBinDir = path.join(ROOT, 'bin');
export const echoScriptPath = path.join(ROOT, 'echo', 'echo.ts');
export const echoManifestPath = path.join(ROOT, 'manifests', 'echo.yaml');

/** What `ambient-echo call --summary` prints as its last line. */
export type { Summary as EchoCallSummary } from '../echo/echo-summary.ts';

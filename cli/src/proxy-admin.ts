// Reads a mesh proxy's local HTTP ports (admin 15000 `/config_dump`, metrics 15020, readiness
// 15021) the way `kubectl port-forward` reaches a pod: from inside the pod's network
// namespace, on 127.0.0.1, because the admin port listens on localhost only (as Istio's).
//
// On the local cluster a pod's containers are processes (containerID `local://<pid>`), so this
// enters the pod's netns with nsenter (root, same machine). On another cluster the plugin does
// not speak port-forward's streaming protocol: forward the port with kubectl and pass its
// address (--admin-address), or the call fails saying so.
import { execFile } from 'node:child_process';
import { MeshError } from '@ambient/api';
import type { V1Pod } from '@kubernetes/client-node';

export interface ProxyEndpoint {
  pod: V1Pod;
  /** host:port of a `kubectl port-forward` to the pod's admin port, instead of entering its netns. */
  forwardedAdmin?: string;
}

export class ProxyUnreachableError extends MeshError<'ERR_PROXY_UNREACHABLE'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_PROXY_UNREACHABLE', message, options);
  }
}

const LOCAL_RUNTIME = /^local:\/\/(\d+)$/;

/** GET http://127.0.0.1:<port><path> in the pod's netns; the body, or a ProxyUnreachableError. */
export async function getFromPod(target: ProxyEndpoint, port: number, path: string, timeoutMs = 5_000): Promise<string> {
  if (target.forwardedAdmin) return fetchText(`http://${target.forwardedAdmin}${path}`, podName(target.pod), timeoutMs);
  const script = `fetch(${JSON.stringify(`http://127.0.0.1:${port}${path}`)}, { signal: AbortSignal.timeout(${timeoutMs}) }).then(async (r) => { process.stdout.write(await r.text()); if (!r.ok) process.exit(3); }, (e) => { process.stderr.write(e.name === 'TimeoutError' ? 'no answer within ${timeoutMs} ms' : String(e.cause ?? e)); process.exit(2); })`;
  return runInPodNetns(target.pod, script, timeoutMs, `port ${port}${path}`);
}

/** One TCP connect from inside the pod's netns (for a hostNetwork pod: its node's). */
export async function connectFromPod(pod: V1Pod, host: string, port: number, timeoutMs = 3_000): Promise<void> {
  const script = `const s = require('node:net').connect(${port}, ${JSON.stringify(host)}); s.setTimeout(${timeoutMs}, () => { console.error('connect timed out after ${timeoutMs} ms'); process.exit(2); }); s.on('connect', () => { s.destroy(); process.exit(0); }); s.on('error', (e) => { console.error(e.message); process.exit(2); });`;
  await runInPodNetns(pod, script, timeoutMs, `connect to ${host}:${port}`);
}

/** Runs a Node.js script in the pod's netns (local cluster runtime only); its stdout. */
async function runInPodNetns(pod: V1Pod, script: string, timeoutMs: number, what: string): Promise<string> {
  const name = podName(pod);
  const containerId = pod.status?.containerStatuses?.find((c) => c.containerID)?.containerID ?? '';
  const pid = LOCAL_RUNTIME.exec(containerId)?.[1];
  if (!pid) {
    throw new ProxyUnreachableError(
      `pod ${name} is not on the local cluster (container ${JSON.stringify(containerId) || 'not running'}): run 'kubectl port-forward -n ${pod.metadata?.namespace} pod/${pod.metadata?.name} 15000' and pass --admin-address 127.0.0.1:15000`,
    );
  }
  return new Promise((resolve, reject) => {
    execFile(
      'nsenter',
      [`--net=/proc/${pid}/ns/net`, process.execPath, '-e', script],
      { timeout: timeoutMs + 2_000, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const why = (err as { killed?: boolean }).killed ? `no answer within ${timeoutMs} ms` : (stderr.trim() || stdout.trim() || err.message).slice(0, 300);
        reject(new ProxyUnreachableError(`${name} ${what}: ${why}`, { cause: err }));
      },
    );
  });
}

const podName = (pod: V1Pod): string => `${pod.metadata?.namespace}/${pod.metadata?.name}`;

async function fetchText(url: string, name: string, timeoutMs: number): Promise<string> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = await r.text();
    if (!r.ok) throw new Error(`HTTP ${r.status}: ${body.slice(0, 200)}`);
    return body;
  } catch (err) {
    throw new ProxyUnreachableError(`${name} via ${url}: ${(err as Error).message}`, { cause: err });
  }
}

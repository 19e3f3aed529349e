// Kubelet probes, run inside the pod's netns as the real kubelet runs them against the pod's
// IP: httpGet (a 2xx or 3xx status passes), tcpSocket (the connection opens) and exec (the
// command exits 0), each bounded by timeoutSeconds. httpGet and tcpSocket are one bash process
// each (its /dev/tcp), so a probe costs a few milliseconds, not a Node start-up.
import type { V1Probe } from '@kubernetes/client-node';
import { execInNetns } from '../runtime/index.ts';

/** Kubernetes' default probe timeout. */
const defaultTimeoutSeconds = 1;

/** The bash program of an httpGet probe: HTTP/1.0 GET, passes on a 2xx or 3xx status line. */
export function httpGetScript(host: string, port: number, path: string): string {
  const request = `GET ${path} HTTP/1.0\\r\\nHost: ${host}:${port}\\r\\nUser-Agent: kube-probe/1.34\\r\\n\\r\\n`;
  return `exec 3<>/dev/tcp/${host}/${port} && printf '${request}' >&3 && read -r _ code _ <&3 && [[ $code == [23]?? ]]`;
}

/** A probe's port as a number (named ports are not resolved here). */
function portOf(port: number | string | undefined, kind: string): number {
  const n = typeof port === 'string' ? Number(port) : port;
  if (n === undefined || !Number.isInteger(n) || n < 1 || n > 65_535) throw new Error(`${kind} probe port ${String(port)} is not a port number`);
  return n;
}

/** The command that runs `probe`, or undefined for a probe kind this kubelet does not run (gRPC). */
export function probeCommand(probe: V1Probe, podIP: string): string[] | undefined {
  if (probe.exec?.command?.length) return probe.exec.command;
  if (probe.httpGet) {
    const path = probe.httpGet.path ?? '/';
    // The path is written into a printf format inside single quotes: refuse what would break out.
    if (!/^\/[A-Za-z0-9\-._~/?=&]*$/.test(path)) throw new Error(`httpGet probe path ${JSON.stringify(path)} is not supported`);
    return ['bash', '-c', httpGetScript(probe.httpGet.host ?? podIP, portOf(probe.httpGet.port, 'httpGet'), path)];
  }
  if (probe.tcpSocket) return ['bash', '-c', `exec 3<>/dev/tcp/${probe.tcpSocket.host ?? podIP}/${portOf(probe.tcpSocket.port, 'tcpSocket')}`];
  return undefined;
}

/** One attempt of `probe` inside `netns`: true when it passed within its timeout. */
export async function runProbe(netns: string, probe: V1Probe, podIP: string): Promise<boolean> {
  const command = probeCommand(probe, podIP);
  if (command === undefined) return true; // as if the container had no such probe
  const timeoutMs = (probe.timeoutSeconds ?? defaultTimeoutSeconds) * 1000;
  const r = await execInNetns(netns, command, { timeoutMs });
  return r.code === 0;
}

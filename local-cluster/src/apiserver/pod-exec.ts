// `pods/exec` over WebSocket, the protocol kubectl ≥1.31 speaks first (v5.channel.k8s.io, or
// v4): every binary message is one channel byte, then data: 0 stdin, 1 stdout, 2 stderr,
// 3 the final Status (exit code), 4 terminal resize; v5 adds 255 <channel> to close a channel.
// On the local cluster a container is a process (containerID `local://<pid>`), so the command
// runs in that process's network namespace with its environment and working directory, as a
// container runtime's exec would (the filesystem is the host's, as the container's is).
//
// Not served: SPDY upgrades (kubectl ≤1.30, which gets a 400 saying so), and terminals (`-t`):
// the command runs without a pty, so `kubectl exec -it` works for line-oriented programs only.
import { spawn } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { type ApiError, badRequest } from '../apimachinery/errors.ts';
import type { KubeObject } from '../apimachinery/types.ts';

const PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const CLOSE = 255;

export interface ExecRequest {
  pod: string;
  pid: number;
  command: string[];
  stdin: boolean;
}

/** What to run, from the query and the pod; a 400 when the pod has no such running container. */
export function execRequest(pod: KubeObject, query: URLSearchParams): ExecRequest {
  const name = `${pod.metadata.namespace}/${pod.metadata.name}`;
  const command = query.getAll('command');
  if (command.length === 0) throw badRequest('you must specify at least one command for the container');
  const spec = pod.spec as { containers?: { name: string }[] } | undefined;
  const status = pod.status as { phase?: string; containerStatuses?: { name: string; containerID?: string }[] } | undefined;
  if (status?.phase === 'Succeeded' || status?.phase === 'Failed') {
    throw badRequest(`cannot exec into a container in a completed pod; current phase is ${status.phase}`);
  }
  const container = query.get('container') || spec?.containers?.[0]?.name;
  if (!spec?.containers?.some((c) => c.name === container)) throw badRequest(`container ${container} is not valid for pod ${pod.metadata.name}`);
  const pid = /^local:\/\/(\d+)$/.exec(status?.containerStatuses?.find((c) => c.name === container)?.containerID ?? '')?.[1];
  if (!pid) throw badRequest(`container ${container} of pod ${name} is not running`);
  return { pod: name, pid: Number(pid), command, stdin: query.get('stdin') === 'true' || query.get('stdin') === '1' };
}

const server = new WebSocketServer({
  noServer: true,
  handleProtocols: (offered) => PROTOCOLS.find((p) => offered.has(p)) ?? false,
});

/** Completes the WebSocket upgrade and runs the command; a non-WebSocket upgrade gets a 400. */
export function serveExec(req: IncomingMessage, socket: Duplex, head: Buffer, exec: ExecRequest): void {
  if (req.headers.upgrade?.toLowerCase() !== 'websocket' || !PROTOCOLS.some((p) => (req.headers['sec-websocket-protocol'] ?? '').includes(p))) {
    throw badRequest(`exec is served over WebSocket (${PROTOCOLS.join(', ')}: kubectl 1.31 or later); SPDY upgrades are not supported`);
  }
  server.handleUpgrade(req, socket, head, (ws) => run(ws, exec));
}

function run(ws: WebSocket, exec: ExecRequest): void {
  let env: Record<string, string>;
  let cwd: string;
  try {
    env = Object.fromEntries(
      readFileSync(`/proc/${exec.pid}/environ`, 'latin1')
        .split('\0')
        .filter((kv) => kv.includes('='))
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
    cwd = readlinkSync(`/proc/${exec.pid}/cwd`);
  } catch (err) {
    finish(ws, failure(`container of pod ${exec.pod} is gone: ${(err as Error).message}`));
    return;
  }
  const send = (channel: number, data: Buffer) => {
    if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.of(channel), data]));
  };
  const child = spawn('nsenter', [`--net=/proc/${exec.pid}/ns/net`, '--', ...exec.command], { env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdout.on('data', (d: Buffer) => send(STDOUT, d));
  child.stderr.on('data', (d: Buffer) => send(STDERR, d));
  child.stdin.on('error', () => {}); // the command may exit without reading its input
  if (!exec.stdin) child.stdin.end();
  ws.on('message', (data: Buffer) => {
    if (data[0] === STDIN && exec.stdin) child.stdin.write(data.subarray(1));
    else if (data[0] === CLOSE && data[1] === STDIN) child.stdin.end();
  });
  ws.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  child.on('error', (err) => finish(ws, failure(`cannot run ${exec.command[0]} in pod ${exec.pod}: ${err.message}`)));
  child.on('close', (code, signal) => {
    if (code === 0) {
      finish(ws, { metadata: {}, status: 'Success' });
      return;
    }
    const exit = code ?? 128 + (signal === 'SIGKILL' ? 9 : 15);
    finish(ws, {
      ...failure(`command terminated with non-zero exit code: error executing command [${exec.command.join(' ')}], exit code ${exit}`),
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: String(exit) }] },
    });
  });
}

function failure(message: string): Record<string, unknown> {
  return { metadata: {}, status: 'Failure', message };
}

function finish(ws: WebSocket, status: Record<string, unknown>): void {
  if (ws.readyState !== ws.OPEN) return;
  ws.send(Buffer.concat([Buffer.of(ERROR), Buffer.from(JSON.stringify(status))]), () => ws.close(1000));
}

/** An error before the upgrade, as the HTTP response kubectl reads. */
export function refuseUpgrade(socket: Duplex, err: ApiError): void {
  const body = JSON.stringify(err.toStatus());
  socket.end(
    `HTTP/1.1 ${err.code} ${err.reason || 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

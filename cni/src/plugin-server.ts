// Where the ambient-cni plugin reaches the agent: HTTP/1.1 on a Unix socket under the agent's
// run dir (a hostPath, so the plugin, run by the container runtime on the node, finds it).
// `POST /v1/cni` with the forwarded call; the answer's body is the plugin's exit code on the
// first line and then what it prints. See plugin/README.md.
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { CniError, cniErrorCodes, parsePluginRequest, renderCniError } from './cni-request.ts';
import type { PluginReply } from './plugin-handler.ts';

const { createServer } = process.getBuiltinModule('node:http');

const maxBodyBytes = 8 * 1024 * 1024;
const maxSocketPathBytes = 107;

export async function startPluginServer(
  socketPath: string,
  handle: (req: ReturnType<typeof parsePluginRequest>) => Promise<PluginReply>,
  logger: Logger,
): Promise<Server> {
  if (Buffer.byteLength(socketPath) > maxSocketPathBytes) throw new Error(`plugin socket path is too long for a unix socket: ${socketPath}`);
  mkdirSync(dirname(socketPath), { recursive: true });
  rmSync(socketPath, { force: true }); // left by an earlier run
  const server = createServer((req, res) => void serve(req, res, handle, logger));
  server.requestTimeout = 120_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(socketPath, 0o600); // only root (the runtime) calls the plugin
  return server;
}

async function serve(
  req: IncomingMessage,
  res: ServerResponse,
  handle: (r: ReturnType<typeof parsePluginRequest>) => Promise<PluginReply>,
  logger: Logger,
): Promise<void> {
  const reply = (r: PluginReply): void => {
    // The plugin reads a plain body: a length, never chunks.
    const body = `${r.exitCode}\n${r.stdout}`;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), connection: 'close' });
    res.end(body);
  };
  if (req.method !== 'POST' || req.url !== '/v1/cni') {
    res.writeHead(404, { connection: 'close' }).end();
    req.resume();
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBodyBytes) throw new CniError(cniErrorCodes.ioFailure, 'the plugin request is larger than 8 MiB');
      chunks.push(chunk);
    }
    reply(await handle(parsePluginRequest(Buffer.concat(chunks).toString('utf8'))));
  } catch (err) {
    logger.warn({ err }, 'plugin request refused');
    if (!res.headersSent) reply({ exitCode: 1, stdout: renderCniError('1.0.0', err) });
    req.destroy();
  }
}

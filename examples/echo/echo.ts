// ambient-echo: the sample app of the mesh. `serve` answers HTTP with who it is and what it
// received; `call` makes requests and exits 0 only when every one answered 2xx.
import { parseEchoArgs, UsageError, USAGE } from './echo-args.ts';
import { callRepeatedly } from './echo-client.ts';
import { podInfoFromEnv, startEchoServer } from './echo-server.ts';

function logLine(line: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ time: new Date().toISOString(), ...line }) + '\n');
}

async function main(argv: string[]): Promise<number> {
  const command = parseEchoArgs(argv);
  if (command.kind === 'call') {
    const ok = await callRepeatedly(command, (result) => process.stdout.write(JSON.stringify(result) + '\n'));
    return ok ? 0 : 1;
  }
  const server = await startEchoServer({ ...command, pod: podInfoFromEnv(process.env), log: logLine });
  logLine({ msg: 'listening', port: server.port, ...(server.tcpPort !== undefined ? { tcpPort: server.tcpPort } : {}) });
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  logLine({ msg: 'shutting down' });
  await server.close();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`ambient-echo: ${err.message}\n${USAGE}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`ambient-echo: ${(err as Error).message}\n`);
      process.exitCode = 1;
    }
  },
);

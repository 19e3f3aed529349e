// ambient-echo: the sample app of the mesh. `serve` answers HTTP (and gRPC) with who it is and
// what it received; `call` and `grpc` make requests and exit 0 only when every one was answered.
import { parseEchoArgs, UsageError, USAGE } from './echo-args.ts';
import { type CallOutput, runCall } from './echo-client.ts';
import { podInfoFromEnv, startEchoServer } from './echo-server.ts';

function logLine(line: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ time: new Date().toISOString(), ...line }) + '\n');
}

async function main(argv: string[]): Promise<number> {
  const command = parseEchoArgs(argv);
  const output: CallOutput = {
    line: (value) => process.stdout.write(JSON.stringify(value) + '\n'),
    warn: (text) => process.stderr.write(`ambient-echo: ${text}\n`),
  };
  if (command.kind === 'call') return (await runCall(command, output)) ? 0 : 1;
  if (command.kind === 'grpc-say' || command.kind === 'grpc-count') {
    // grpc-js loads only for the commands that use it.
    const { runGrpcCount, runGrpcSay } = await import('./echo-grpc-client.ts');
    return (await (command.kind === 'grpc-say' ? runGrpcSay(command, output) : runGrpcCount(command, output))) ? 0 : 1;
  }
  const server = await startEchoServer({ ...command, pod: podInfoFromEnv(process.env), log: logLine });
  logLine({
    msg: 'listening',
    port: server.port,
    ...(server.tcpPort !== undefined ? { tcpPort: server.tcpPort } : {}),
    ...(server.grpcPort !== undefined ? { grpcPort: server.grpcPort } : {}),
  });
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

// The echo app's gRPC side (echo.proto), plaintext HTTP/2: in the mesh, ztunnel and the
// waypoint supply mTLS, so the app speaks h2c like any unmodified workload.
import * as grpc from '@grpc/grpc-js';
import { MAX_STREAM_REPLIES } from './echo-args.ts';
import { type CountReply, type CountRequest, codeName, ECHO_SERVICE, echoService, type SayReply, type SayRequest } from './echo-grpc-proto.ts';
import type { RequestStats } from './echo-stats.ts';

// In-flight calls get this long to finish after SIGTERM before the server cuts them.
const DRAIN_MS = 5_000;

export interface GrpcEchoServer {
  port: number;
  close(): Promise<void>;
}

export async function startGrpcEchoServer(opts: {
  port: number;
  host: string;
  /** Who answers (PodInfo's fields the replies carry). */
  pod: { pod: string; version: string };
  /** Shared with the HTTP side: gRPC calls count under their service name ("ambient.echo.v1.Echo"). */
  stats: RequestStats;
  log: (line: Record<string, unknown>) => void;
}): Promise<GrpcEchoServer> {
  const server = new grpc.Server();
  const logCall = (method: string, call: { getPeer(): string }, code: grpc.status, started: number): void =>
    opts.log({ msg: 'grpc', method, code: codeName(code), peer: call.getPeer(), durationMs: Math.round(performance.now() - started) });
  server.addService(echoService, {
    Say(call: grpc.ServerUnaryCall<SayRequest, SayReply>, callback: grpc.sendUnaryData<SayReply>) {
      const started = performance.now();
      opts.stats.record(`/${ECHO_SERVICE}/Say`);
      callback(null, { message: call.request.message, pod: opts.pod.pod, version: opts.pod.version });
      logCall('Say', call, grpc.status.OK, started);
    },
    Count(call: grpc.ServerWritableStream<CountRequest, CountReply>) {
      const started = performance.now();
      opts.stats.record(`/${ECHO_SERVICE}/Count`);
      const n = call.request.n;
      if (n > MAX_STREAM_REPLIES) {
        call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: `n must be 0..${MAX_STREAM_REPLIES}, got ${n}` });
        return logCall('Count', call, grpc.status.INVALID_ARGUMENT, started);
      }
      // At most 1000 small messages: buffering them past a slow reader costs little, and the
      // stream ends (or is cancelled) long before that matters.
      for (let i = 0; i < n && !call.cancelled; i++) call.write({ i, pod: opts.pod.pod });
      call.end();
      logCall('Count', call, call.cancelled ? grpc.status.CANCELLED : grpc.status.OK, started);
    },
  });
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${opts.port}`, grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(new Error(`cannot listen for grpc on ${host}:${opts.port}: ${err.message}`, { cause: err })) : resolve(bound),
    ),
  );
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        const drain = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, DRAIN_MS);
        server.tryShutdown(() => {
          clearTimeout(drain);
          resolve();
        });
      }),
  };
}

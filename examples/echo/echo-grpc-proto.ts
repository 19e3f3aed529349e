// The gRPC service of echo.proto, loaded at run time (no generated code) for the server and the client.
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const ECHO_SERVICE = 'ambient.echo.v1.Echo';

export interface SayRequest {
  message: string;
}
export interface SayReply {
  message: string;
  pod: string;
  version: string;
}
export interface CountRequest {
  n: number;
}
export interface CountReply {
  i: number;
  pod: string;
}

const definition = protoLoader.loadSync(path.join(import.meta.dirname, 'echo.proto'), { keepCase: true, defaults: true });
const loaded = grpc.loadPackageDefinition(definition) as unknown as { ambient: { echo: { v1: { Echo: grpc.ServiceClientConstructor } } } };

export const EchoClient = loaded.ambient.echo.v1.Echo;
export const echoService: grpc.ServiceDefinition = EchoClient.service;

/** "OK", "UNAVAILABLE", …: the names tests and proxies' fault configs use. */
export function codeName(code: grpc.status): string {
  return grpc.status[code] ?? String(code);
}

// Node sockets that live inside a pod's network namespace. The addon only creates the socket
// (on a short-lived thread that entered the netns); Node serves or connects it as usual, so
// 'connect', backpressure and half-close behave exactly like any other socket.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { CaptureError } from './capture-error.ts';
import { loadNative, type NativeSocketOptions, type OriginalDst } from './native.ts';

export interface NetnsListenOptions extends NativeSocketOptions {
  /** IPv4 address to bind inside the netns; 0.0.0.0 (the default) also takes REDIRECTed traffic. */
  host?: string;
  port: number;
  backlog?: number;
}

/** Binds and listens inside `netnsPath`, then hands the socket to `server`. Resolves with the
 *  bound address (useful with port 0). Failures reject, never throw. */
export async function listenInNetns(server: net.Server, netnsPath: string, options: NetnsListenOptions): Promise<AddressInfo> {
  const host = options.host ?? '0.0.0.0';
  let fd: number;
  try {
    fd = loadNative().listenInNetns(netnsPath, host, options.port, options.backlog ?? 511, {
      ...(options.mark === undefined ? {} : { mark: options.mark }),
      transparent: options.transparent === true,
      freebind: options.freebind === true,
    });
  } catch (cause) {
    if (cause instanceof CaptureError) throw cause;
    throw new CaptureError('ERR_NETNS_SOCKET', `cannot listen on ${host}:${options.port} in ${netnsPath}: ${(cause as Error).message}`, { cause });
  }
  return await new Promise((resolveListen, reject) => {
    const onError = (err: Error): void => {
      server.off('listening', onListening);
      reject(
        new CaptureError('ERR_NETNS_SOCKET', `cannot serve fd ${fd} listening on ${host}:${options.port} in ${netnsPath}: ${err.message}`, { cause: err }),
      );
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolveListen(server.address() as AddressInfo);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    // From here Node owns the fd: server.close() closes it.
    server.listen({ fd });
  });
}

export interface NetnsConnectOptions extends NativeSocketOptions {
  host: string;
  port: number;
}

/** A TCP connection made from inside `netnsPath`. With `mark`, the pod's capture rules let it
 *  through instead of redirecting it back to ztunnel. Returns at once, like net.connect(). */
export function connectInNetns(netnsPath: string, options: NetnsConnectOptions): net.Socket {
  let fd: number;
  try {
    fd = loadNative().socketInNetns(netnsPath, {
      ...(options.mark === undefined ? {} : { mark: options.mark }),
      transparent: options.transparent === true,
      freebind: options.freebind === true,
    });
  } catch (cause) {
    if (cause instanceof CaptureError) throw cause;
    throw new CaptureError('ERR_NETNS_SOCKET', `cannot create a socket in ${netnsPath} for ${options.host}:${options.port}: ${(cause as Error).message}`, {
      cause,
    });
  }
  // allowHalfOpen: a reply written after the peer's FIN must still go out.
  const socket = new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: true });
  // No Nagle: a proxy forwards what it has at once. With it on, a response written as head then
  // body waited ~40 ms for the peer's delayed ACK (L7 capped near 90 req/s on 4 connections).
  socket.setNoDelay(true);
  socket.connect(options.port, options.host);
  return socket;
}

/** The file descriptor under a Node socket (a TLS socket's is its TCP socket's). */
export function socketFd(socket: net.Socket): number {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new CaptureError(
      'ERR_SOCKET_FD',
      `socket ${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'} has no file descriptor (closed, or not a TCP socket)`,
    );
  }
  return fd;
}

/** Where an accepted, REDIRECTed connection was originally headed (SO_ORIGINAL_DST). */
export function originalDestination(socket: net.Socket): OriginalDst {
  const fd = socketFd(socket);
  try {
    return loadNative().originalDst(fd);
  } catch (cause) {
    if (cause instanceof CaptureError) throw cause;
    throw new CaptureError(
      'ERR_ORIGINAL_DST',
      `no original destination for connection from ${socket.remoteAddress}:${socket.remotePort}: ${(cause as Error).message}`,
      { cause },
    );
  }
}

/** Sets SO_MARK on a live socket. */
export function markSocket(socket: net.Socket, mark: number): void {
  const fd = socketFd(socket);
  try {
    loadNative().setMark(fd, mark);
  } catch (cause) {
    throw new CaptureError('ERR_NETNS_SOCKET', `cannot set mark ${mark} on fd ${fd}: ${(cause as Error).message}`, { cause });
  }
}

// Sockets ztunnel opens from inside a captured pod's netns, for both directions: outbound to
// the upstream (or the HBONE peer), inbound to the app. They carry ztunnel's mark so that the
// pod's own capture rules let them through instead of redirecting them back to ztunnel.
import type net from 'node:net';
import { unrefTimers, ztunnelMark, type Timers } from '@ambient/api';
import { formatSocketAddress, HboneError, type SocketAddress } from '@ambient/hbone';
import { connectInNetns } from '../capture/netns-sockets.ts';

export interface CapturedPodRef {
  uid: string;
  ip: string;
  netnsPath: string;
}

/** A socket inside the pod's netns carrying ztunnel's mark. */
export function podSocket(pod: CapturedPodRef, target: SocketAddress): net.Socket {
  return connectInNetns(pod.netnsPath, { host: target.ip, port: target.port, mark: ztunnelMark });
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export interface DialOptions {
  /** How long the TCP connect may take (default 10 s). */
  timeoutMs?: number;
  timers?: Timers;
}

/** The dial options a proxy's dependencies carry (connectTimeoutMs, timers). */
export function dialOptions(deps: { connectTimeoutMs?: number; timers?: Timers }): DialOptions {
  const options: DialOptions = {};
  if (deps.connectTimeoutMs !== undefined) options.timeoutMs = deps.connectTimeoutMs;
  if (deps.timers !== undefined) options.timers = deps.timers;
  return options;
}

/**
 * A TCP connection from inside the pod's netns that resolves once connected. It has its own
 * deadline: to a black-holed address (a dead node, SYNs dropped by a NetworkPolicy) the kernel
 * would retry SYNs for minutes, holding the connection that waits on it.
 */
export function dialFromPod(pod: CapturedPodRef, target: SocketAddress, options: DialOptions = {}): Promise<net.Socket> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const timers = options.timers ?? unrefTimers;
  return new Promise((resolve, reject) => {
    const socket = podSocket(pod, target);
    const deadline = timers.setTimeout(() => {
      socket.destroy();
      reject(
        new HboneError(
          'connect_failed',
          `connect to ${formatSocketAddress(target)} from pod ${pod.uid} timed out after ${timeoutMs} ms (a dead node, or a NetworkPolicy dropping it?)`,
        ),
      );
    }, timeoutMs);
    socket.once('connect', () => {
      timers.clearTimeout(deadline);
      socket.off('error', onError);
      resolve(socket);
    });
    const onError = (err: Error): void => {
      timers.clearTimeout(deadline);
      reject(err);
    };
    socket.once('error', onError);
  });
}

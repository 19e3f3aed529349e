// Sockets ztunnel opens from inside a captured pod's netns, for both directions: outbound to
// the upstream (or the HBONE peer), inbound to the app. They carry ztunnel's mark so that the
// pod's own capture rules let them through instead of redirecting them back to ztunnel.
import type net from 'node:net';
import { ztunnelMark, type Timers } from '@ambient/api';
import type { SocketAddress } from '@ambient/hbone';
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

export interface DialOptions {
  /** How long the TCP connect may take (default 10 s). */
  timeoutMs?: number;
  timers?: Timers;
}

/** A TCP connection from inside the pod's netns that resolves once connected. */
export function dialFromPod(pod: CapturedPodRef, target: SocketAddress, _options: DialOptions = {}): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = podSocket(pod, target);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

// The app behind the HBONE server in the impersonation suite: answers `echo:<what it got>` once
// its peer half-closes, so a healthy request proves bytes went both ways.
import net from 'node:net';
import type { Duplex } from 'node:stream';

export interface EchoApp {
  port: number;
  close(): Promise<void>;
}

export async function startEchoApp(): Promise<EchoApp> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let data = '';
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString();
    });
    socket.on('end', () => socket.end(`echo:${data}`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Dials the app on 127.0.0.1 (the HBONE server's upstream), half-close allowed. */
export function connectTcp(port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

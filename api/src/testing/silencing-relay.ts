// A TCP relay on 127.0.0.1 whose drop() silences the connections it carries, both ways, closing
// nothing: a peer that vanished without a FIN, for keepalive tests.
import net from 'node:net';

export interface SilencingRelay {
  port: number;
  drop(): void;
  close(): Promise<void>;
}

export async function startSilencingRelay(targetPort: number): Promise<SilencingRelay> {
  const connections = new Set<{ dropped: boolean; sockets: net.Socket[] }>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    const conn = { dropped: false, sockets: [client, upstream] };
    connections.add(conn);
    for (const s of conn.sockets) s.on('error', () => {});
    client.on('data', (chunk: Buffer) => conn.dropped || upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => conn.dropped || client.write(chunk));
    const end = (): void => {
      if (conn.dropped) return;
      for (const s of conn.sockets) s.destroy();
      connections.delete(conn);
    };
    client.once('close', end);
    upstream.once('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    drop: () => {
      for (const conn of connections) conn.dropped = true;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const conn of connections) for (const s of conn.sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

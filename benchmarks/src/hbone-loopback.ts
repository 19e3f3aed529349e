// HBONE alone on loopback, one process: a single stream of N MiB into a TCP sink, directly and
// through the HBONE pool and server (@ambient/hbone) (TLS 1.3, HTTP/2 CONNECT), measured in the same run.
// Separates the tunnel's own cost from the local cluster's (netns hops, relays, 4 processes).
//
// No goal: the ratio HBONE/direct is printed beside the figures.
//
//   npm run bench -- hbone
//   node benchmarks/src/hbone-loopback.ts --mib 512 [--json FILE|-]
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import pino from 'pino';
import { createCertificateAuthority, issueCertificate } from '@ambient/api';
import { createHboneServer, HbonePool } from '@ambient/hbone';
import { benchResult, humanOutput, writeBenchResult } from './bench-output.ts';
import { benchRow, renderBenchTable } from './bench-result.ts';
import { benchFlags } from './number-flags.ts';

const { flags, json } = benchFlags({ mib: 512 });
const total = Math.min(8192, flags.mib) * 1024 * 1024;
const ca = createCertificateAuthority({ commonName: 'bench root' });
const context = (uri: string): tls.SecureContext => {
  const c = issueCertificate({ ca, commonName: '', uris: [uri] });
  return tls.createSecureContext({ cert: c.certPem, key: c.keyPem, ca: ca.certPem, minVersion: 'TLSv1.3' });
};
const client = 'spiffe://cluster.local/ns/bench/sa/client';
const serverId = 'spiffe://cluster.local/ns/bench/sa/server';

const sink = net.createServer({ allowHalfOpen: true }, (s) => {
  let n = 0;
  s.on('data', (d: Buffer) => (n += d.length));
  s.on('end', () => s.end(String(n)));
});
await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
const sinkPort = (sink.address() as net.AddressInfo).port;
const dialSink = (): Promise<net.Socket> =>
  new Promise((resolve, reject) => {
    const s = net.connect({ port: sinkPort, host: '127.0.0.1', allowHalfOpen: true }, () => resolve(s));
    s.once('error', reject);
  });

/** Writes `total` bytes into `stream`, half-closes, and resolves with MiB/s once the sink confirms the count. */
function push(stream: Duplex): Promise<number> {
  const chunk = Buffer.alloc(256 * 1024, 1);
  let sent = 0;
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const pump = (): void => {
      while (sent < total) {
        sent += chunk.length;
        if (!stream.write(chunk)) return void stream.once('drain', pump);
      }
      stream.end();
    };
    let reply = '';
    stream.on('data', (d: Buffer) => (reply += d.toString()));
    stream.on('end', () =>
      Number(reply) === total ? resolve(total / 1048576 / ((performance.now() - start) / 1000)) : reject(new Error(`sink got ${reply} of ${total} bytes`)),
    );
    stream.on('error', reject);
    pump();
  });
}

const server = createHboneServer({
  context: () => context(serverId),
  trustDomain: 'cluster.local',
  rootCertPem: ca.certPem,
  logger: pino({ level: 'silent' }),
  authorize: () => ({ allow: true }),
  connectUpstream: () => dialSink(),
});
const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
const pool = new HbonePool();

const problems: string[] = [];
const measured = (p: Promise<number>): Promise<number | null> =>
  p.catch((err: Error) => {
    problems.push(err.message);
    return null;
  });
const direct = await measured(dialSink().then(push));
const hbone = await measured(
  pool
    .connect({
      source: { identity: client, context: context(client) },
      destination: { ip: '127.0.0.1', port: sinkPort },
      hboneAddress: { ip: '127.0.0.1', port },
      expectedIdentities: [serverId],
    })
    .then(push),
);
const rows = [benchRow(`single stream, ${total / 1048576} MiB into a TCP sink`, 'MiB/s', hbone, { baseline: direct })];
humanOutput(json)(
  renderBenchTable(
    { rows, problems },
    {
      title: `\nsingle stream into a TCP sink, loopback, one process (node ${process.version}); HBONE: TLS 1.3 + HTTP/2 CONNECT, 4 MiB windows`,
      baseline: 'direct TCP',
      value: 'through HBONE',
    },
  ),
);
writeBenchResult(benchResult('hbone', flags, rows, problems), json);
pool.close();
await server.close();
sink.close();
process.exit(problems.length ? 1 : 0);

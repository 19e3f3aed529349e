// Load programs that run inside pods for the data-plane benchmark (no dependencies beyond Node):
//   serve --http 8080 --sink 9000 --hold 9001
//                                      HTTP answering 1 KiB bodies; a TCP sink that reports bytes read;
//                                      a TCP port that greets each connection with "ok\n" and keeps it
//   rate URL[,URL...] --rps R --seconds S --connections C [--header NAME] [--raw]
//                                                  fixed-rate HTTP GETs over C keep-alive connections
//                                                  per URL (the URLs take turns: R in total); with
//                                                  --header, counts the responses that carry NAME;
//                                                  with --raw, also every latency (to merge runs);
//                                                  failed requests are counted by cause (failures);
//                                                  sendSeconds: when the last one went out
//   bulk HOST:PORT --mib M                         one TCP stream of M MiB into the sink
//   hold HOST:PORT --connections N --seconds S     opens N connections to the hold port (200 dialing
//                                                  at a time), each counted once greeted; keeps them
//                                                  idle S seconds after the last is up, then closes all
// Results are one JSON line on stdout. Every loop is bounded in count and time.
import http from 'node:http';
import net from 'node:net';
import { parseArgs } from 'node:util';

const [mode, ...rest] = process.argv.slice(2);
const body = Buffer.alloc(1024, 'x');

if (mode === 'serve') {
  const { values } = parseArgs({
    args: rest,
    options: { http: { type: 'string', default: '8080' }, sink: { type: 'string', default: '9000' }, hold: { type: 'string', default: '9001' } },
  });
  http
    .createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
      res.end(body);
    })
    .listen(Number(values.http));
  net
    .createServer({ allowHalfOpen: true }, (s) => {
      let n = 0;
      s.on('data', (c: Buffer) => (n += c.length));
      s.on('end', () => s.end(`${n}\n`));
      s.on('error', () => undefined);
    })
    .listen(Number(values.sink));
  net
    .createServer((s) => {
      s.on('error', () => undefined);
      s.on('end', () => s.destroy());
      s.write('ok\n');
    })
    .listen(Number(values.hold), undefined, 16_384);
} else if (mode === 'rate') {
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      rps: { type: 'string', default: '500' },
      seconds: { type: 'string', default: '10' },
      connections: { type: 'string', default: '4' },
      header: { type: 'string' },
      raw: { type: 'boolean', default: false },
    },
  });
  const header = values.header?.toLowerCase();
  let withHeader = 0;
  const urls = positionals[0]!.split(',');
  const rps = Number(values.rps);
  const total = Math.max(1, Math.min(1_000_000, Math.round(rps * Number(values.seconds))));
  const agent = new http.Agent({ keepAlive: true, maxSockets: Number(values.connections) });
  const latencies: number[] = [];
  let errors = 0;
  // Why each failed request failed ('status 503', 'ECONNRESET', 'timeout', 'cut short', 'unanswered').
  const failures: Record<string, number> = {};
  const fail = (why: string): void => {
    errors++;
    failures[why] = (failures[why] ?? 0) + 1;
  };
  let done = 0;
  const start = performance.now();
  let lastSend = start;
  await new Promise<void>((finish) => {
    // Whatever is still unanswered 30 s after the last send counts as failed.
    const giveUp = setTimeout(
      () => {
        if (total > done) failures.unanswered = total - done;
        errors += total - done;
        done = total;
        finish();
      },
      (total * 1000) / rps + 30_000,
    );
    // Open-loop: request i is due at start + i/rps whatever the previous ones are doing.
    const fire = (i: number): void => {
      const sent = performance.now();
      let settled = false;
      // A proxy's own answer (503, 404...) or a response cut short is an error: the server only answers 200.
      const settle = (why: string | undefined, carries = false): void => {
        if (settled || done === total) return;
        settled = true;
        if (why === undefined) latencies.push(performance.now() - sent);
        else fail(why);
        if (why === undefined && carries) withHeader++;
        if (++done === total) {
          clearTimeout(giveUp);
          finish();
        }
      };
      const req = http.get(urls[i % urls.length]!, { agent, timeout: 10_000 }, (res) => {
        const carries = header !== undefined && res.headers[header] !== undefined;
        res.resume();
        res.on('end', () => settle(res.statusCode === 200 ? undefined : `status ${res.statusCode}`, carries));
        res.on('close', () => settle('cut short'));
        res.on('error', () => settle('cut short'));
      });
      req.on('error', (err: NodeJS.ErrnoException) => settle(err.code ?? err.message));
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })));
      lastSend = sent;
    };
    // A timer fires no sooner than ~1 ms and often later, so one timer per request capped the
    // rate (849 of 1000 req/s): each tick sends every request that is due by now, then waits
    // for the next one's time.
    let next = 0;
    const tick = (): void => {
      const now = performance.now();
      while (next < total && start + (next * 1000) / rps <= now) fire(next++);
      if (next < total) setTimeout(tick, Math.max(0, start + (next * 1000) / rps - performance.now()));
    };
    tick();
  });
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  agent.destroy();
  const report = {
    requests: total,
    errors,
    seconds,
    sendSeconds: (lastSend - start) / 1000,
    rps: (total - errors) / seconds,
    p50: q(0.5),
    p90: q(0.9),
    p99: q(0.99),
  };
  const extra = {
    ...(header === undefined ? {} : { withHeader }),
    ...(errors > 0 ? { failures } : {}),
    ...(values.raw ? { latencies: latencies.map((l) => Math.round(l * 1000) / 1000) } : {}),
  };
  process.stdout.write(`${JSON.stringify({ ...report, ...extra })}\n`);
} else if (mode === 'bulk') {
  const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { mib: { type: 'string', default: '512' } } });
  const [host, port] = positionals[0]!.split(':');
  const bytes = Math.min(8192, Number(values.mib)) * 1024 * 1024;
  const chunk = Buffer.alloc(256 * 1024, 7);
  const start = performance.now();
  const socket = net.connect({ host: host!, port: Number(port), allowHalfOpen: true });
  let sent = 0;
  const pump = (): void => {
    while (sent < bytes) {
      sent += chunk.length;
      if (!socket.write(chunk)) return void socket.once('drain', pump);
    }
    socket.end();
  };
  socket.once('connect', pump);
  let reply = '';
  socket.on('data', (c: Buffer) => (reply += c.toString()));
  socket.on('end', () => {
    const seconds = (performance.now() - start) / 1000;
    process.stdout.write(`${JSON.stringify({ bytes: Number(reply.trim()), seconds, mibPerSecond: Number(reply.trim()) / 1048576 / seconds })}\n`);
    process.exit(0);
  });
  socket.on('error', (err) => {
    process.stdout.write(`${JSON.stringify({ error: err.message })}\n`);
    process.exit(1);
  });
} else if (mode === 'hold') {
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { connections: { type: 'string', default: '10000' }, seconds: { type: 'string', default: '30' } },
  });
  const [host, port] = positionals[0]!.split(':');
  const total = Math.max(1, Math.min(50_000, Number(values.connections)));
  const sockets: net.Socket[] = [];
  let up = 0;
  const failures: Record<string, number> = {};
  const start = performance.now();
  // Dials `total` connections, at most 200 in flight; each settles once greeted or failed.
  await new Promise<void>((finish) => {
    let dialed = 0;
    let settled = 0;
    const dial = (): void => {
      if (dialed === total) return;
      dialed++;
      const socket = net.connect({ host: host!, port: Number(port) });
      let done = false;
      const settle = (why?: string): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (why === undefined) up++;
        else {
          failures[why] = (failures[why] ?? 0) + 1;
          socket.destroy();
        }
        if (++settled === total) finish();
        else dial();
      };
      const timer = setTimeout(() => settle('timeout'), 30_000);
      socket.once('data', () => settle());
      socket.on('error', (err: NodeJS.ErrnoException) => settle(err.code ?? err.message));
      socket.on('close', () => settle('closed before the greeting'));
      sockets.push(socket);
    };
    for (let i = 0; i < 200; i++) dial();
  });
  const establishSeconds = (performance.now() - start) / 1000;
  process.stdout.write(`${JSON.stringify({ up, establishSeconds })}\n`); // the bench reads memory now
  await new Promise((r) => setTimeout(r, Math.min(600, Number(values.seconds)) * 1000));
  // Still open at the end of the hold: the path kept every connection.
  const open = sockets.filter((s) => !s.destroyed).length;
  for (const s of sockets) s.destroy();
  process.stdout.write(`${JSON.stringify({ connections: total, up, open, establishSeconds, ...(up < total ? { failures } : {}) })}\n`);
  process.exit(0);
} else {
  console.error('usage: load.ts serve|rate|bulk|hold ...');
  process.exit(2);
}

// Embedded API server throughput: create 10k pods, list them (JSON and Table), and fan out
// pod updates to 100 concurrent watchers. Prints a table of numbers; asserts nothing.
//
//   npm run bench -- apiserver            (from the repository root)
//   node benchmarks/src/apiserver-list-watch.ts --pods 10000 --watchers 100 --updates 2000
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { numberFlags } from './number-flags.ts';

const {
  pods: podCount,
  watchers: watcherCount,
  updates: updateCount,
  concurrency,
} = numberFlags({ pods: 10000, watchers: 100, updates: 2000, concurrency: 32 });

// The server runs in its own process so that its CPU and memory are its own, not the load
// generator's.
const dataDir = mkdtempSync(join(tmpdir(), 'bench-apiserver-'));
const child = spawn(process.execPath, [join(import.meta.dirname, 'apiserver-process.ts'), dataDir], { stdio: ['pipe', 'pipe', 'inherit'] });
const server = await new Promise<{ url: string; token: string; ca: string }>((ready, fail) => {
  let out = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
    if (out.includes('\n')) ready(JSON.parse(out.slice(0, out.indexOf('\n'))));
  });
  child.once('exit', (code) => fail(new Error(`the API server process exited with ${code}`)));
});
const serverRssMiB = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024;
const agent = new Agent({ keepAlive: true, maxSockets: concurrency, ca: server.ca });
const auth = { authorization: `Bearer ${server.token}` };

function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const req = request(server.url + path, { method, agent, headers: { ...auth, 'content-type': 'application/json', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', fail);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const pod = (i: number): unknown => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: `p-${i}`, namespace: 'default', labels: { app: `app-${i % 100}` } },
  spec: { nodeName: `node-${i % 10}`, containers: [{ name: 'c', image: 'x', command: ['sleep', '1'] }] },
});

async function pooled(n: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

const rows: [string, string][] = [];
const rss0 = serverRssMiB();

let t = performance.now();
await pooled(podCount, async (i) => {
  const r = await call('POST', '/api/v1/namespaces/default/pods', pod(i));
  if (r.status !== 201) throw new Error(`create p-${i}: ${r.status} ${r.body}`);
});
const s = (performance.now() - t) / 1000;
rows.push([`create ${podCount} pods (${concurrency} in flight)`, `${(podCount / s).toFixed(0)} creates/s (${s.toFixed(2)} s)`]);

for (const [label, headers] of [
  ['list', {}],
  ['list as Table', { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' }],
] as const) {
  const times: number[] = [];
  let bytes = 0;
  for (let k = 0; k < 5; k++) {
    t = performance.now();
    const r = await call('GET', '/api/v1/pods', undefined, headers);
    times.push(performance.now() - t);
    bytes = r.body.length;
  }
  times.sort((a, b) => a - b);
  rows.push([`${label} ${podCount} pods (median of 5)`, `${times[2]!.toFixed(0)} ms, ${(bytes / 1e6).toFixed(1)} MB`]);
}
t = performance.now();
await call('GET', '/api/v1/pods?labelSelector=app%3Dapp-7');
rows.push(['list with a label selector (100 of them)', `${(performance.now() - t).toFixed(1)} ms`]);

// Watchers: each counts the MODIFIED events it sees and notes when it saw them.
const listRv = JSON.parse((await call('GET', '/api/v1/pods?limit=1')).body).metadata.resourceVersion as string;
const sentAt = new Map<string, number>();
const latencies: number[] = [];
let delivered = 0;
const watchAgent = new Agent({ keepAlive: false, maxSockets: watcherCount + 1, ca: server.ca });
const watches = await Promise.all(
  Array.from(
    { length: watcherCount },
    () =>
      new Promise<import('node:http').ClientRequest>((ready, fail) => {
        const req = request(`${server.url}/api/v1/pods?watch=true&resourceVersion=${listRv}`, { agent: watchAgent, headers: auth }, (res) => {
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buf += chunk;
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, nl);
              buf = buf.slice(nl + 1);
              const ev = JSON.parse(line) as { type: string; object: { metadata: { resourceVersion: string } } };
              if (ev.type !== 'MODIFIED') continue;
              delivered++;
              const sent = sentAt.get(ev.object.metadata.resourceVersion);
              if (sent !== undefined) latencies.push(performance.now() - sent);
            }
          });
          ready(req);
        });
        req.on('error', fail);
        req.end();
      }),
  ),
);
const watchRss = serverRssMiB();

t = performance.now();
await pooled(updateCount, async (i) => {
  const sent = performance.now();
  const r = await call(
    'PATCH',
    `/api/v1/namespaces/default/pods/p-${i % podCount}`,
    { metadata: { labels: { round: String(i) } } },
    { 'content-type': 'application/merge-patch+json' },
  );
  if (r.status !== 200) throw new Error(`patch: ${r.status} ${r.body}`);
  sentAt.set(JSON.parse(r.body).metadata.resourceVersion, sent);
});
const updateSeconds = (performance.now() - t) / 1000;
const expected = updateCount * watcherCount;
const deadline = Date.now() + 60_000;
while (delivered < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
const fanoutSeconds = (performance.now() - t) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p: number): string => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!.toFixed(1) : 'n/a');
rows.push([`${updateCount} pod patches with ${watcherCount} watchers`, `${(updateCount / updateSeconds).toFixed(0)} patches/s`]);
rows.push(['watch events delivered', `${delivered}/${expected} in ${fanoutSeconds.toFixed(2)} s = ${(delivered / fanoutSeconds).toFixed(0)} events/s`]);
rows.push(['patch sent → event parsed by a watcher (p50 / p99)', `${pct(50)} / ${pct(99)} ms (under full load)`]);
rows.push([
  `API server RSS: empty → ${podCount} pods + ${watcherCount} watchers → after the patches`,
  `${rss0.toFixed(0)} → ${watchRss.toFixed(0)} → ${serverRssMiB().toFixed(0)} MiB`,
]);

for (const w of watches) w.destroy();
agent.destroy();
watchAgent.destroy();
child.stdin!.end();
await new Promise((r) => child.once('exit', r));
rmSync(dataDir, { recursive: true, force: true });

console.log(`\nembedded API server, list/watch (loopback; server and load generator in separate processes; node ${process.version})`);
const width = Math.max(...rows.map((r) => r[0].length));
for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
process.exit(delivered === expected ? 0 : 1);

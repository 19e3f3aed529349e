// Fuzzing the node-agent socket protocol (newline-delimited JSON, @ambient/api node-agent.ts) on
// the side that parses untrusted input: ztunnel's NodeAgentClient, inside the real ztunnel
// process (`ztunnel/src/main.ts`, connected to the real istiod-lite), fed random bytes, random
// JSON and messages of the right shape with hostile fields, split at random points. And the
// serving side, the CNI agent's NodeAgentServer, fed random bytes by its clients. Alongside,
// ztunnel's admin and readiness endpoints must keep answering, the agent connection must stay
// up, no error may be logged, and the server's healthy client must get every event.
//
// No pod sent here is an enrolled (HBONE) workload, so ztunnel never captures one: a fuzzed
// netnsPath could name the host's own network namespace.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { PodInfo } from '@ambient/api';
import { NodeAgentServer } from '@ambient/cni';
import { type ControlPlane, ensureWorkload, type ManagedProcess, startBinary, startControlPlane } from './control-plane.ts';
import { FuzzFailure, fuzz, fuzzInputs, fuzzTimeoutMs, startHealthyClient, within } from './fuzz-harness.ts';
import { componentCommand } from '@ambient/local-cluster/components';

// ---- inputs -----------------------------------------------------------------------------------

const hostile = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(
    null,
    0,
    -1,
    1e308,
    '',
    '__proto__',
    'constructor',
    [],
    {},
    JSON.parse('{"__proto__":{"polluted":true}}'),
    '\u0000',
    '\ud800',
    '../../proc/1/ns/net',
  ),
);
const podArb = fc.record(
  {
    uid: fc.oneof(
      { weight: 3, arbitrary: fc.uuid() },
      { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString', '', 'a'.repeat(10_000)) },
      { weight: 1, arbitrary: hostile },
    ),
    name: fc.oneof(fc.string({ maxLength: 30 }), hostile),
    namespace: fc.oneof(fc.constantFrom('fuzz', 'default', 'istio-system'), hostile),
    ip: fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom('', '999.1.1.1', '10.244.1.3'), hostile),
    netns: fc.oneof(fc.string({ maxLength: 30 }), hostile),
    netnsPath: fc.oneof(fc.constantFrom('/run/netns/none', '', '/nonexistent/x'), fc.string({ maxLength: 40 }), hostile),
    labels: fc.oneof(fc.dictionary(fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 }), { maxKeys: 3 }), hostile),
    annotations: fc.oneof(fc.dictionary(fc.string({ maxLength: 20 }), fc.string({ maxLength: 50 }), { maxKeys: 3 }), hostile),
    serviceAccount: fc.oneof(fc.string({ maxLength: 20 }), hostile),
  },
  { requiredKeys: [] },
);
const messageArb = fc.oneof(
  fc.record(
    { type: fc.constantFrom('add', 'remove'), pod: fc.oneof({ weight: 4, arbitrary: podArb }, { weight: 1, arbitrary: hostile }) },
    { requiredKeys: ['type'] },
  ),
  fc.record(
    { type: fc.constant('snapshot'), pods: fc.oneof({ weight: 4, arbitrary: fc.array(podArb, { maxLength: 6 }) }, { weight: 1, arbitrary: hostile }) },
    { requiredKeys: ['type'] },
  ),
  fc.record({ type: fc.oneof(fc.string({ maxLength: 10 }), hostile), pod: podArb, pods: fc.array(podArb, { maxLength: 2 }) }, { requiredKeys: [] }),
);
const lineArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 5, arbitrary: messageArb.map((m) => Buffer.from(`${JSON.stringify(m)}\n`)) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(`${JSON.stringify(v)}\n`)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.concat([Buffer.from(b), Buffer.from('\n')])) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('\n', '\r\n', '   \n', '{"type":"add"\n', '{"type":"snapshot","pods":[\n', '\u00ff\u00fe\n', '{"type":"add","pod":{"uid":"\ud800"}}\n')
      .map((s) => Buffer.from(s)),
  },
  // Deep nesting and big lines (under the 16 MiB line cap).
  { weight: 1, arbitrary: fc.nat({ max: 100_000 }).map((n) => Buffer.from(`${'['.repeat(n)}${']'.repeat(n)}\n`)) },
  {
    weight: 1,
    arbitrary: fc
      .nat({ max: 2_000 })
      .map((n) =>
        Buffer.from(
          `${JSON.stringify({ type: 'snapshot', pods: Array.from({ length: n }, (_, i) => ({ uid: `bulk-${i}`, name: 'p', namespace: 'fuzz', ip: '10.244.9.9', netnsPath: '/run/netns/none' })) })}\n`,
        ),
      ),
  },
);
/** Lines, written in chunks cut at random byte offsets (inside UTF-8 sequences too). */
const writeArb = fc.record({ lines: fc.array(lineArb, { minLength: 1, maxLength: 6 }), cuts: fc.array(fc.nat(), { maxLength: 4 }) });

function chunks(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of at) {
    out.push(bytes.subarray(from, c));
    from = c;
  }
  out.push(bytes.subarray(from));
  return out.filter((b) => b.length > 0);
}

const nodeAgentWarning = /"msg":"node agent"/;

const validPod = (uid: string): PodInfo => ({
  uid,
  name: uid,
  namespace: 'fuzz',
  ip: '10.244.1.50',
  netns: 'none',
  netnsPath: '/run/netns/none',
  labels: {},
  annotations: {},
  serviceAccount: 'default',
});

// ---- ztunnel's client ---------------------------------------------------------------------------

describe('fuzz: the node-agent protocol as ztunnel reads it', function () {
  this.timeout(fuzzTimeoutMs());
  const inputs = fuzzInputs(250);
  let dir: string;
  let cp: ControlPlane;
  let agent: net.Server;
  let agentConnections = 0;
  let peer: net.Socket | undefined;
  let ztunnel: ManagedProcess;
  let healthy: ReturnType<typeof startHealthyClient>;

  const get = async (url: string): Promise<{ status: number; text: string }> => {
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    return { status: res.status, text: await res.text() };
  };
  const errorsLogged = (): string[] => ztunnel.output.filter((l) => /"level":(50|60)/.test(l));

  before(async function () {
    this.timeout(90_000);
    dir = mkdtempSync(join(tmpdir(), 'fuzz-node-agent-'));
    cp = await startControlPlane();
    await ensureWorkload(cp, { namespace: 'istio-system', sa: 'ztunnel', pod: 'ztunnel-node-1', node: 'node-1', ip: '10.244.1.2' });
    writeFileSync(join(dir, 'token'), await cp.token('istio-system', 'ztunnel', 'ztunnel-node-1'));
    writeFileSync(join(dir, 'root.pem'), cp.rootCertPem);
    const connected: Array<(s: net.Socket) => void> = [];
    agent = net.createServer((socket) => {
      agentConnections++;
      peer = socket;
      socket.on('error', () => {});
      socket.resume();
      socket.write(`${JSON.stringify({ type: 'snapshot', pods: [validPod('first')] })}\n`);
      connected.shift()?.(socket);
    });
    await new Promise<void>((r) => agent.listen(join(dir, 'agent.sock'), r));
    const firstConnection = new Promise<net.Socket>((r) => connected.push(r));
    ztunnel = await startBinary('ztunnel', [
      ...componentCommand('ztunnel').slice(1),
      ...['--node', 'node-1', '--node-agent-socket', join(dir, 'agent.sock'), '--istiod', cp.grpcAddress],
      ...['--root-cert', join(dir, 'root.pem'), '--token-file', join(dir, 'token'), '--host', '127.0.0.1'],
      ...['--admin-port', '0', '--metrics-port', '0', '--readiness-port', '0', '--log-level', 'warn', '--drain-seconds', '0'],
    ]);
    ztunnel.counts.set(nodeAgentWarning, 0);
    await within(10_000, 'ztunnel connecting to the node agent', firstConnection);
    for (let i = 0; i < 200 && (await get(ztunnel.ready.readiness!)).status !== 200; i++) await new Promise((r) => setTimeout(r, 50));
    const ready = await get(ztunnel.ready.readiness!);
    assert.equal(ready.status, 200, `ztunnel not ready: ${ready.text}`);
    healthy = startHealthyClient(async () => {
      const r = await get(ztunnel.ready.readiness!);
      if (r.status !== 200) throw new FuzzFailure(`readiness answered ${r.status}: ${r.text}`);
      const dump = await get(ztunnel.ready.admin!);
      if (dump.status !== 200) throw new FuzzFailure(`/config_dump answered ${dump.status}`);
      JSON.parse(dump.text);
    }, 20);
  });

  after(async () => {
    await healthy?.stop();
    await ztunnel?.stop();
    await new Promise((r) => agent?.close(r));
    await cp?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function assertAlive(): void {
    if (ztunnel.exited) throw new FuzzFailure(`ztunnel exited ${JSON.stringify(ztunnel.exited)}: ${ztunnel.output.slice(-10).join('\n')}`);
    if (agentConnections !== 1 || !peer || peer.destroyed)
      throw new FuzzFailure(`ztunnel dropped the node-agent connection (${agentConnections} connections): ${ztunnel.output.slice(-5).join('\n')}`);
    const errors = errorsLogged();
    if (errors.length > 0) throw new FuzzFailure(`ztunnel logged errors: ${errors.slice(-3).join('\n')}`);
  }

  it('rejects or applies every fuzzed line without dropping the connection, crashing or logging an error', async () => {
    // One connection carries every input, so batches go one write after another (batch 1).
    await fuzz('node-agent', 'lines to ztunnel', writeArb, { inputs: Math.round(inputs * 0.8), batch: 1 }, async ({ lines, cuts }) => {
      for (const part of chunks(Buffer.concat(lines), cuts)) {
        if (!peer!.write(part)) await new Promise((r) => peer!.once('drain', r));
      }
      // A line left without its newline would swallow the next input: end it here.
      peer!.write('\n');
      assertAlive();
    });
    // Let ztunnel read what is still buffered before looking at it.
    await new Promise((r) => setTimeout(r, 500));
    assertAlive();
  });

  it('drops a line over 16 MiB, reconnects, and reads a clean snapshot again', async () => {
    const reconnected = new Promise<void>((resolve) => agent.once('connection', () => resolve()));
    peer!.write(Buffer.alloc(17 * 1024 * 1024, 0x61));
    await within(15_000, 'ztunnel reconnecting to the node agent after an oversized line', reconnected);
    assert.equal(agentConnections, 2);
    agentConnections = 1; // the reconnect was the point; later checks count from here
  });

  it('kept ztunnel serving: readiness and config_dump all the way, no error logged', async () => {
    const run = await healthy.stop();
    const warnings = ztunnel.counts.get(nodeAgentWarning);
    console.log(
      `      healthy client: ${run.ok} readiness + config_dump rounds, ${run.errors.length} errors; ztunnel warned ${warnings}× about node-agent input`,
    );
    assert.deepEqual(run.errors, []);
    assert.ok(run.ok > 0);
    assert.deepEqual(errorsLogged(), []);
    assert.equal(ztunnel.exited, undefined);
  });
});

// ---- the CNI agent's server ---------------------------------------------------------------------

describe('fuzz: the node-agent protocol as the local cluster serves it', function () {
  this.timeout(fuzzTimeoutMs());
  const inputs = fuzzInputs(700);
  let dir: string;
  let hook: NodeAgentServer;
  let socketPath: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fuzz-hook-'));
    socketPath = join(dir, 'agent.sock');
    hook = new NodeAgentServer();
    await hook.start(socketPath);
  });
  after(async () => {
    await hook?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ignores whatever its clients send, and a healthy client gets every add and remove', async () => {
    const healthySocket = net.connect(socketPath);
    await new Promise((r) => healthySocket.once('connect', r));
    let received = '';
    healthySocket.setEncoding('utf8');
    healthySocket.on('data', (s: string) => {
      received += s;
    });
    let n = 0;
    const healthy = startHealthyClient(async () => {
      const uid = `healthy-${n++}`;
      hook.podAdded(validPod(uid));
      hook.podRemoved(validPod(uid));
      await within(
        5_000,
        `the healthy client receiving ${uid}`,
        (async () => {
          while (!received.includes(`"remove","pod":{"uid":"${uid}"`)) await new Promise((r) => setTimeout(r, 2));
        })(),
      );
    }, 2);
    await fuzz(
      'node-agent',
      'bytes to the hook',
      fc.tuple(fc.uint8Array({ maxLength: 4096 }), fc.boolean()),
      { inputs: Math.round(inputs * 0.2), batch: 16 },
      async ([bytes, stay]) => {
        const s = net.connect(socketPath);
        s.on('error', () => {});
        s.resume();
        await new Promise((r) => s.once('connect', r));
        s.write(bytes);
        if (stay) await new Promise((r) => setTimeout(r, 20));
        s.destroy();
      },
    );
    const run = await healthy.stop();
    healthySocket.destroy();
    console.log(`      healthy client: ${run.ok} add/remove events received, ${run.errors.length} errors`);
    assert.deepEqual(run.errors, []);
    assert.ok(run.ok > 0);
  });
});

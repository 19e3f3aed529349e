// Fuzzing the CNI agent's plugin socket (HTTP/1.1 on a Unix socket, cni/plugin/README.md): the
// real agent (in this process) fed forwarded calls with random and hostile fields (commands,
// CNI_ARGS, netns paths, network configs with odd prevResults), random JSON bodies and raw
// bytes. Every well-formed HTTP request must be answered with an exit code line (0-255) and, for
// a non-zero code, a CNI error document; the agent must keep serving a healthy ADD/DEL pair
// alongside, and its ztunnel view must hold only what those healthy calls left (nothing).
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import pino from 'pino';
import { CniAgent } from '@ambient/cni';
import { fuzz, fuzzInputs, fuzzTimeoutMs, startHealthyClient } from './fuzz-harness.ts';

const hostile = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom('', '__proto__', 'constructor', '\u0000', '\ud800', '../../proc/1/ns/net', 'x'.repeat(5000), ';;;', '=', 'K8S_POD_UID'),
);
const cniArgs = fc.oneof(
  hostile,
  fc
    .record({ ns: hostile, name: hostile, uid: fc.oneof(fc.uuid(), hostile), extra: hostile })
    .map(({ ns, name, uid, extra }) => `IgnoreUnknown=1;K8S_POD_NAMESPACE=${ns};K8S_POD_NAME=${name};K8S_POD_UID=${uid};${extra}`),
);
const ipEntry = fc.oneof(
  fc.record({
    address: fc.oneof(
      fc.ipV4().map((ip) => `${ip}/24`),
      fc.ipV6(),
      hostile,
    ),
  }),
  fc.jsonValue({ maxDepth: 2 }),
);
const netConf = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc
    .record(
      {
        cniVersion: fc.oneof(fc.constantFrom('1.0.0', '0.4.0', '1.1.0'), hostile),
        name: hostile,
        type: fc.constant('ambient-cni'),
        prevResult: fc.oneof(fc.record({ ips: fc.oneof(fc.array(ipEntry, { maxLength: 3 }), fc.jsonValue({ maxDepth: 1 })) }), fc.jsonValue({ maxDepth: 2 })),
        'cni.dev/valid-attachments': fc.oneof(fc.array(fc.record({ containerID: hostile }), { maxLength: 3 }), fc.jsonValue({ maxDepth: 1 })),
      },
      { requiredKeys: [] },
    )
    .map((c) => JSON.stringify(c)),
);
const call = fc.record(
  {
    command: fc.oneof(fc.constantFrom('ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION'), hostile),
    containerId: fc.oneof(fc.constantFrom('fuzz-1', 'fuzz-2'), hostile),
    netns: fc.oneof(fc.constantFrom('/run/netns/none', ''), hostile),
    ifName: fc.oneof(fc.constant('eth0'), hostile),
    args: cniArgs,
    path: hostile,
    stdin: netConf,
  },
  { requiredKeys: [] },
);

/** POSTs a body to the plugin socket; resolves with the status and body. */
function post(socketPath: string, body: string | Buffer, path = '/v1/cni'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method: 'POST', path, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A plugin answer: the exit code line, and for a failure the CNI error document. */
function checkAnswer(a: { status: number; body: string }, input: unknown): void {
  const nl = a.body.indexOf('\n');
  const code = Number(a.body.slice(0, nl));
  const rest = a.body.slice(nl + 1);
  const why = `for ${JSON.stringify(input).slice(0, 300)}: ${a.status} ${a.body.slice(0, 200)}`;
  assert.equal(a.status, 200, why);
  assert.ok(nl > 0 && Number.isInteger(code) && code >= 0 && code <= 255, why);
  if (code !== 0) {
    const err = JSON.parse(rest) as { code?: unknown; msg?: unknown };
    assert.ok(typeof err.code === 'number' && typeof err.msg === 'string', why);
  }
}

describe('fuzz: the CNI agent plugin socket', function () {
  this.timeout(fuzzTimeoutMs());
  const inputs = fuzzInputs(600);
  let dir: string;
  let agent: CniAgent;
  let socketPath: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fuzz-cni-'));
    for (const d of ['net.d', 'bin']) mkdirSync(join(dir, d));
    writeFileSync(join(dir, 'net.d', '10-test.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'test', plugins: [{ type: 'bridge' }] }));
    writeFileSync(join(dir, 'plugin'), '#!/bin/sh\n'); // the executable itself is not under test here
    agent = await CniAgent.start({
      nodeName: 'fuzz',
      confDir: join(dir, 'net.d'),
      binDir: join(dir, 'bin'),
      runDir: join(dir, 'run'),
      nodeAgentSocket: join(dir, 'node-agent.sock'),
      netnsDir: join(dir, 'none'),
      pluginBinary: join(dir, 'plugin'),
      logger: pino({ level: 'silent' }),
    });
    socketPath = join(dir, 'run', 'plugin.sock');
  });
  after(async () => {
    await agent?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers every forwarded call with an exit code and a CNI error when it fails, and keeps serving a healthy ADD and DEL', async () => {
    let n = 0;
    const healthy = startHealthyClient(async () => {
      const id = `healthy-${n++}`;
      const uid = `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
      const stdin = JSON.stringify({ cniVersion: '1.0.0', name: 'test', type: 'ambient-cni', prevResult: { ips: [{ address: '10.244.9.9/24' }] } });
      const args = `K8S_POD_NAMESPACE=healthy;K8S_POD_NAME=${id};K8S_POD_UID=${uid}`;
      for (const command of ['ADD', 'DEL']) {
        const a = await post(socketPath, JSON.stringify({ command, containerId: id, netns: '/run/netns/healthy', ifName: 'eth0', args, path: '', stdin }));
        if (!a.body.startsWith('0\n')) throw new Error(`healthy ${command} ${id}: ${a.body.slice(0, 200)}`);
      }
    }, 2);
    await fuzz('cni-agent', 'forwarded calls', call, { inputs: Math.round(inputs * 0.6), batch: 8 }, async (c) => {
      const body = JSON.stringify({ command: '', containerId: '', netns: '', ifName: '', args: '', path: '', stdin: '', ...c });
      checkAnswer(await post(socketPath, body), c);
    });
    await fuzz(
      'cni-agent',
      'random bodies',
      fc.oneof(
        fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
        fc.string({ maxLength: 500 }),
      ),
      { inputs: Math.round(inputs * 0.25), batch: 8 },
      async (b) => {
        checkAnswer(await post(socketPath, b), b);
      },
    );
    await fuzz('cni-agent', 'raw bytes', fc.uint8Array({ maxLength: 2048 }), { inputs: Math.round(inputs * 0.15), batch: 8 }, async (bytes) => {
      const s = net.connect(socketPath);
      s.on('error', () => {});
      s.resume();
      await new Promise((r) => s.once('connect', r));
      s.end(bytes);
      await new Promise((r) => s.once('close', r));
    });
    const run = await healthy.stop();
    console.log(`      healthy ADD/DEL pairs: ${run.ok}, errors ${run.errors.length}`);
    assert.deepEqual(run.errors, []);
    assert.ok(run.ok > 0);
    // Whatever the fuzzed ADDs recorded stays with their (fuzzed) container ids; none of the
    // healthy pods is left.
    assert.ok(agent.server.pods().every((p) => !p.namespace.startsWith('healthy')));
  });
});

// Fuzzing the waypoint's HTTP parsing: the real waypoint process (`waypoint/src/main.ts`, as its
// Deployment runs it) configured by the real istiod-lite from a waypoint Gateway, a Service bound
// to it and an HTTPRoute that redirects (answered by the waypoint itself, no backend needed).
// Over HBONE (a CONNECT to the Service's VIP:port, with a mesh certificate from istiod-lite's
// CA) it gets random HTTP/1.1 request heads and bodies, and h2c frames and hostile header blocks
// inside the CONNECT stream. Alongside, a healthy client's GET through HBONE must get its
// redirect every time, and the waypoint must log no error and still serve at the end.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import fc from 'fast-check';
import { createCsr } from '@ambient/api';
import { grpcCaClient } from '@ambient/api/proxy-runtime';
import { HbonePool } from '@ambient/hbone';
import { type ControlPlane, ensureWorkload, type ManagedProcess, startBinary, startControlPlane } from './control-plane.ts';
import { FuzzFailure, fuzz, fuzzInputs, fuzzTimeoutMs, startHealthyClient, within } from './fuzz-harness.ts';
import { connectHeadersArb, encodeFrame, frameArb, h2Exchange, headerFrames } from './h2-wire.ts';
import { encodeRequest, rawExchange } from './http-wire.ts';
import { componentCommand } from '@ambient/local-cluster/components';

const CLIENT_ID = 'spiffe://cluster.local/ns/shop/sa/client';
const WAYPOINT_ID = 'spiffe://cluster.local/ns/shop/sa/wp';

// ---- inputs -----------------------------------------------------------------------------------

const tchar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz-ABCXYZ0123456789!#$%&*+.^_`|~');
const headerArb = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.tuple(
      fc.oneof(
        fc.constantFrom(
          'Host',
          'Content-Length',
          'Transfer-Encoding',
          'Connection',
          'Upgrade',
          'Expect',
          'TE',
          'Trailer',
          'x-request-id',
          'traceparent',
          'grpc-timeout',
          'x-forwarded-for',
          'cookie',
          ':authority',
        ),
        fc.string({ unit: tchar, minLength: 1, maxLength: 20 }),
      ),
      fc.oneof(
        fc.constantFrom(
          '',
          '0',
          '-1',
          '1e3',
          '99999999999999999999',
          'chunked',
          'gzip, chunked',
          'close',
          'keep-alive, Upgrade',
          'h2c',
          '100-continue',
          'trailers',
          '00-abc-def-01',
          '1H',
        ),
        fc.string({ maxLength: 40 }),
        fc.nat({ max: 80_000 }).map((n) => 'x'.repeat(n)),
      ),
    ),
  },
  // A line that is not a header at all: no colon, folded, controls.
  { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 40 }).map((s) => [s, ''] as [string, string]) },
);
const http1Arb = fc.record({
  method: fc.oneof(
    fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'CONNECT', 'PRI', 'TRACE', 'get'),
    fc.string({ unit: tchar, minLength: 1, maxLength: 10 }),
  ),
  target: fc.oneof(
    fc.constantFrom('/', '*', '/a?b=c', '//x', '/..%2f..', 'http://other/x', 'web.shop.svc.cluster.local:80', '/%00', '/?%zz', ''),
    fc.webPath(),
    fc.string({ maxLength: 40 }),
    fc.nat({ max: 80_000 }).map((n) => `/${'a'.repeat(n)}`),
  ),
  version: fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2', 'HTTP/9', 'FOO'),
  headers: fc
    .tuple(fc.boolean(), fc.array(headerArb, { maxLength: 8 }))
    .map(([host, rest]) => (host ? [['Host', 'web.shop'] as [string, string], ...rest] : rest)),
  body: fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    fc.nat({ max: 300_000 }).map((n) => new Uint8Array(n)),
  ),
  framing: fc.constantFrom('length', 'length', 'chunked', 'lying-length', 'none'),
  pipelined: fc.nat({ max: 3 }),
});

// ---- the suite --------------------------------------------------------------------------------

describe('fuzz: the waypoint under malformed HTTP/1.1 and h2c inside HBONE', function () {
  this.timeout(fuzzTimeoutMs());
  const inputs = fuzzInputs(300);
  let dir: string;
  let cp: ControlPlane;
  let waypoint: ManagedProcess;
  let pool: HbonePool;
  let connect: () => Promise<Duplex>;
  // The healthy client is another source: its own HBONE connection, as another pod's would be.
  // (Node's HTTP/2 rapid-reset guard may end the fuzzer's own connection, streams and all; what
  // must hold is that no other connection notices.)
  let healthyPool: HbonePool;
  let healthy: ReturnType<typeof startHealthyClient>;
  const errorsLogged = (): string[] => waypoint.output.filter((l) => /"level":(50|60)/.test(l));
  const responses = new Map<string, number>();

  before(async function () {
    this.timeout(120_000);
    dir = mkdtempSync(join(tmpdir(), 'fuzz-waypoint-'));
    cp = await startControlPlane();
    await ensureWorkload(cp, { namespace: 'shop', sa: 'client' });
    await ensureWorkload(cp, { namespace: 'shop', sa: 'wp' });
    await cp.kube('POST', '/apis/gateway.networking.k8s.io/v1/namespaces/shop/gateways', {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { name: 'wp' },
      spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
    });
    const svc = await cp.kube('POST', '/api/v1/namespaces/shop/services', {
      metadata: { name: 'web', labels: { 'istio.io/use-waypoint': 'wp' } },
      spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    });
    await ensureWorkload(cp, { namespace: 'shop', sa: 'default', pod: 'web-1', node: 'node-1', ip: '10.244.1.20', labels: { app: 'web' } });
    await cp.kube('POST', '/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes', {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'redirect' },
      spec: {
        parentRefs: [{ group: '', kind: 'Service', name: 'web', port: 80 }],
        rules: [{ filters: [{ type: 'RequestRedirect', requestRedirect: { hostname: 'moved.example', statusCode: 302 } }] }],
      },
    });
    writeFileSync(join(dir, 'token'), await cp.token('shop', 'wp'));
    writeFileSync(join(dir, 'root.pem'), cp.rootCertPem);
    waypoint = await startBinary('waypoint', [
      ...componentCommand('waypoint').slice(1),
      ...['--gateway-name', 'wp', '--gateway-namespace', 'shop', '--pod-name', 'wp-fuzz', '--istiod', cp.grpcAddress],
      ...['--root-cert', join(dir, 'root.pem'), '--token-file', join(dir, 'token'), '--hbone-host', '127.0.0.1', '--hbone-port', '0'],
      ...['--host', '127.0.0.1', '--admin-port', '0', '--metrics-port', '0', '--readiness-port', '0', '--log-level', 'warn'],
    ]);
    const readyUrl = waypoint.ready.readiness!;
    let ready = 0;
    for (let i = 0; i < 300 && ready !== 200; i++) {
      ready = (await fetch(readyUrl)).status;
      if (ready !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(ready, 200, `the waypoint never became ready: ${waypoint.output.slice(-5).join('\n')}`);

    // The client's mesh certificate, from istiod-lite's CA like a ztunnel's.
    const key = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const clientToken = await cp.token('shop', 'client');
    const ca = grpcCaClient({ address: cp.grpcAddress, rootCertPem: cp.rootCertPem, token: () => clientToken });
    const chain = await ca.createCertificate(createCsr({ keyPem: key, uris: [CLIENT_ID] }), 3600, '');
    ca.close();
    const context = tls.createSecureContext({ key, cert: chain.slice(0, -1).join(''), ca: cp.rootCertPem, minVersion: 'TLSv1.3' });
    const [host, port] = [waypoint.ready.hbone!.replace(/:\d+$/, ''), Number(/:(\d+)$/.exec(waypoint.ready.hbone!)![1])];
    pool = new HbonePool();
    const request = {
      source: { identity: CLIENT_ID, context },
      destination: { ip: svc.spec.clusterIP as string, port: 80 },
      hboneAddress: { ip: host === '0.0.0.0' ? '127.0.0.1' : host, port },
      expectedIdentities: [WAYPOINT_ID],
    };
    connect = () => pool.connect(request);
    healthyPool = new HbonePool();
    const healthyConnect = () => healthyPool.connect(request);
    healthy = startHealthyClient(async () => {
      const res = await within(
        10_000,
        'a healthy GET through the waypoint',
        rawExchange(() => streamFrom(healthyConnect), Buffer.from('GET /healthy HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n'), { whole: true }),
      );
      if (res.status !== 302 || !/location: http:\/\/moved\.example\/healthy/i.test(res.text))
        throw new FuzzFailure(`the healthy GET got ${JSON.stringify(res.text.slice(0, 300))}`);
    }, 10);
  });

  after(async () => {
    await healthy?.stop();
    pool?.close();
    healthyPool?.close();
    await waypoint?.stop();
    await cp?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function assertAlive(): void {
    if (waypoint.exited) throw new FuzzFailure(`the waypoint exited ${JSON.stringify(waypoint.exited)}: ${waypoint.output.slice(-10).join('\n')}`);
    const errors = errorsLogged();
    if (errors.length > 0) throw new FuzzFailure(`the waypoint logged errors: ${errors.slice(-3).join('\n')}`);
  }

  it('answers or closes every CONNECT stream of fuzzed HTTP/1.1 requests', async () => {
    await fuzz('waypoint', 'HTTP/1.1 in CONNECT', http1Arb, { inputs: Math.round(inputs * 0.5), batch: 8 }, async (r) => {
      const body = Buffer.from(r.body);
      const framing =
        r.framing === 'chunked'
          ? { chunked: true }
          : r.framing === 'lying-length'
            ? { contentLength: body.length + 10 }
            : r.framing === 'none'
              ? { contentLength: 0 }
              : {};
      const one = encodeRequest({ method: r.method, target: `${r.target} ${r.version}`.replace(/ HTTP\/1\.1$/, ''), headers: r.headers, body, ...framing });
      // encodeRequest writes HTTP/1.1; another version replaces it on the request line.
      const bytes = Buffer.concat(
        Array.from({ length: r.pipelined + 1 }, () =>
          r.version === 'HTTP/1.1' ? one : Buffer.from(one.toString('latin1').replace(/ HTTP\/1\.1\r\n/, ` ${r.version}\r\n`), 'latin1'),
        ),
      );
      const honest = r.framing !== 'lying-length';
      const what = `${r.method} ${r.target.slice(0, 80)} ${r.version} (${r.headers.length} headers, ${body.length} bytes, ${r.framing})`;
      // The status line is the answer: a keep-alive connection rightly stays open after it.
      const exchange = rawExchange(() => streamFrom(connect), bytes, { whole: false, maxBytes: 64 * 1024 });
      // A request that declares more body than it sends is owed bytes: only "no crash" is asked.
      const res = honest
        ? await within(15_000, `an answer to ${what}`, exchange)
        : await Promise.race([exchange, new Promise<undefined>((r) => setTimeout(() => r(undefined), 300))]);
      const key = res === undefined ? 'waiting for body' : res.status === 0 ? 'closed' : String(res.status);
      responses.set(`http1 ${key}`, (responses.get(`http1 ${key}`) ?? 0) + 1);
      if (res !== undefined && res.status >= 500) throw new FuzzFailure(`${what} was answered ${res.status}: ${res.text.slice(0, 300)}`);
      assertAlive();
    });
  });

  it('ends or keeps serving every h2c session of malformed frames and hostile headers', async () => {
    const h2cArb = fc.oneof(
      fc
        .array(frameArb, { minLength: 1, maxLength: 6 })
        .map((frames) => ({ bytes: Buffer.concat(frames.map(encodeFrame)), honest: frames.every((f) => f.declaredLength === undefined), what: 'frames' })),
      fc
        .tuple(
          connectHeadersArb,
          fc.array(
            fc.tuple(
              fc.constantFrom(':path', ':scheme', 'content-type', 'te'),
              fc.constantFrom('/', '', 'http', 'https', 'application/grpc', 'trailers', '*', 'x y'),
            ),
            { maxLength: 3 },
          ),
          fc.integer({ min: 1, max: 40 }),
          fc.boolean(),
        )
        .map(([headers, extra, streams, endStream]) => ({
          bytes: Buffer.concat(Array.from({ length: streams }, (_, i) => headerFrames(1 + 2 * i, [...headers, ...extra], endStream))),
          honest: true,
          what: `${streams} stream(s) of ${JSON.stringify([...headers, ...extra]).slice(0, 300)}`,
        })),
    );
    await fuzz('waypoint', 'h2c in CONNECT', h2cArb, { inputs: Math.round(inputs * 0.5), batch: 8 }, async (input) => {
      try {
        const stream = await connect();
        await h2Exchange(() => stream, input.bytes, input.honest, input.what);
        responses.set('h2c', (responses.get('h2c') ?? 0) + 1);
      } catch (err) {
        // Node's HTTP/2 rapid-reset guard ends the fuzzer's own HBONE connection (its client
        // opens and cancels streams fast), streams and all: the hostile client loses its own
        // connection, which is the guard doing its job. Other connections must not notice:
        // the healthy client, on its own connection, checks that.
        if (!/ENHANCE_YOUR_CALM/.test((err as Error)?.message ?? '')) throw err;
        responses.set('h2c: hostile connection cut by the rapid-reset guard', (responses.get('h2c: hostile connection cut by the rapid-reset guard') ?? 0) + 1);
      }
      assertAlive();
    });
  });

  it('kept the healthy client whole and logged no error', async () => {
    const run = await healthy.stop();
    for (const [k, n] of [...responses].sort()) console.log(`      ${k}: ${n}`);
    console.log(`      healthy client: ${run.ok} redirected GETs through HBONE, ${run.errors.length} errors`);
    assert.deepEqual(run.errors, []);
    assert.ok(run.ok > 0);
    assertAlive();
  });
});

/**
 * The CONNECT stream as a Duplex right away (rawExchange writes at once): writes wait for the
 * stream, and its data, end and close are passed on.
 */
function streamFrom(open: () => Promise<Duplex>): Duplex {
  let target: Duplex | undefined;
  const pending: Array<[Buffer, () => void]> = [];
  const proxy = new Duplex({
    write(chunk: Buffer, _enc, cb) {
      if (target) target.write(chunk, () => cb());
      else pending.push([chunk, cb]);
    },
    read() {},
    destroy(err, cb) {
      target?.destroy();
      cb(err);
    },
  });
  open().then(
    (s) => {
      target = s;
      s.on('data', (c: Buffer) => proxy.push(c));
      s.on('end', () => proxy.push(null));
      s.on('close', () => proxy.destroy());
      s.on('error', () => proxy.destroy());
      for (const [c, cb] of pending.splice(0)) s.write(c, () => cb());
    },
    () => proxy.destroy(),
  );
  return proxy;
}

// Fuzzing the embedded Kubernetes API server (@ambient/local-cluster startApiServer) over HTTPS on
// 127.0.0.1 port 0 with the admin token (and sometimes without, or with a forged one): random
// methods, paths (encoded, dot segments, huge), query strings, content types, bodies (JSON, YAML,
// protobuf-ish bytes) and patches of every kind (JSON Patch, merge, strategic merge, apply)
// against real objects. Every request must be answered, and not with a 5xx: a 5xx means input
// reached code that did not expect it. Alongside, a healthy client creates, reads and deletes
// ConfigMaps; every call must succeed, and the server must still serve (and restart from its
// data directory) at the end.
import assert from 'node:assert/strict';
import https from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import fc from 'fast-check';
import pino from 'pino';
import { startApiServer, type ApiServer } from '@ambient/local-cluster/apiserver';
import { FuzzFailure, fuzz, fuzzInputs, fuzzTimeoutMs, startHealthyClient, within } from './fuzz-harness.ts';
import { encodeRequest, rawExchange, type RawRequest } from './http-wire.ts';

// ---- inputs -----------------------------------------------------------------------------------

const resources = [
  ['', 'v1', 'namespaces', false],
  ['', 'v1', 'configmaps', true],
  ['', 'v1', 'pods', true],
  ['', 'v1', 'services', true],
  ['', 'v1', 'serviceaccounts', true],
  ['', 'v1', 'secrets', true],
  ['', 'v1', 'nodes', false],
  ['apps', 'v1', 'deployments', true],
  ['coordination.k8s.io', 'v1', 'leases', true],
  ['rbac.authorization.k8s.io', 'v1', 'clusterroles', false],
  ['authentication.k8s.io', 'v1', 'tokenreviews', false],
  ['apiextensions.k8s.io', 'v1', 'customresourcedefinitions', false],
  ['gateway.networking.k8s.io', 'v1', 'httproutes', true],
] as const;

const oddSegment = fc.oneof(
  fc.constantFrom(
    '.',
    '..',
    '%2e%2e',
    '%2E',
    '%2f',
    '%00',
    '%',
    '%zz',
    '%E0%A4%A',
    '%C0%AF',
    '~',
    ' ',
    'a b',
    '\t',
    '%20',
    '*',
    'watch',
    'status',
    'x'.repeat(300),
  ),
  fc.string({ maxLength: 20 }).map(encodeURIComponent),
  fc.string({ unit: 'binary-ascii', maxLength: 12 }),
  fc.nat({ max: 20_000 }).map((n) => 'n'.repeat(n)),
);
const nameArb = fc.oneof({ weight: 4, arbitrary: fc.constantFrom('target', 'fuzz-a', 'default', 'kube-system') }, { weight: 2, arbitrary: oddSegment });
const namespaceArb = fc.oneof({ weight: 4, arbitrary: fc.constantFrom('fuzz', 'default', 'missing') }, { weight: 1, arbitrary: oddSegment });

/** A path that addresses real resources most of the time, and something odd the rest. */
const pathArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .record({
        resource: fc.constantFrom(...resources),
        namespace: namespaceArb,
        name: fc.option(nameArb, { freq: 3 }),
        sub: fc.option(fc.oneof(fc.constantFrom('status', 'scale', 'token', 'binding', 'log', 'finalize'), oddSegment), { freq: 2 }),
        watchPrefix: fc.boolean(),
      })
      .map(({ resource: [group, version, plural, namespaced], namespace, name, sub, watchPrefix }) => {
        const base = group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
        const ns = namespaced ? `/namespaces/${namespace}` : '';
        return `${base}${watchPrefix ? '/watch' : ''}${ns}/${plural}${name === null ? '' : `/${name}`}${name !== null && sub !== null ? `/${sub}` : ''}`;
      }),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('/', '/api', '/apis', '/version', '/healthz', '/openapi/v2', '/openapi/v3', '/openapi/v3/apis/apps/v1', '/swagger.json', '*'),
  },
  { weight: 2, arbitrary: fc.array(oddSegment, { minLength: 1, maxLength: 6 }).map((segs) => `/${segs.join('/')}`) },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.constantFrom('api', 'apis', 'v1', 'namespaces', 'fuzz', 'configmaps', '..', '.', ''), { maxLength: 8 })
      .map((s) => `/${s.join('/')}`),
  },
);

const queryArb = fc
  .array(
    fc.tuple(
      fc.oneof(
        fc.constantFrom(
          'labelSelector',
          'fieldSelector',
          'dryRun',
          'fieldManager',
          'force',
          'limit',
          'continue',
          'resourceVersion',
          'includeObject',
          'propagationPolicy',
          'gracePeriodSeconds',
          'tailLines',
          'container',
          'follow',
          'watch',
          'timeoutSeconds',
          'allowWatchBookmarks',
        ),
        fc.string({ maxLength: 8 }),
      ),
      fc.oneof(
        fc.constantFrom(
          'true',
          'false',
          'All',
          '',
          '-1',
          '0',
          '1e308',
          'NaN',
          'a=b',
          'a in (b',
          'metadata.name=target',
          '!x',
          'x,,y',
          'Orphan',
          'Foreground',
          'fuzz',
          'Metadata',
          '%',
          '%zz',
        ),
        fc.string({ maxLength: 30 }),
      ),
    ),
    { maxLength: 5 },
  )
  .map((pairs) => (pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${k}=${/%/.test(v) ? v : encodeURIComponent(v)}`).join('&')}`));

const contentTypes = [
  'application/json',
  'application/yaml',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/json-patch+json',
  'application/apply-patch+yaml',
  'application/apply-patch+cbor',
  'application/vnd.kubernetes.protobuf',
  'text/plain',
  'application/json; charset=utf-16',
  '',
];

const objectArb = fc.record(
  {
    apiVersion: fc.oneof(fc.constantFrom('v1', 'apps/v1', 'gateway.networking.k8s.io/v1', 'v2', ''), fc.string({ maxLength: 10 })),
    kind: fc.oneof(fc.constantFrom('ConfigMap', 'Pod', 'Service', 'Namespace', 'Deployment', 'Status', 'List'), fc.string({ maxLength: 10 })),
    metadata: fc.record(
      {
        name: fc.oneof(fc.constantFrom('target', 'fuzz-a', 'fuzz-b'), fc.string({ maxLength: 70 }), fc.jsonValue({ maxDepth: 1 })),
        namespace: fc.oneof(fc.constantFrom('fuzz', 'default'), fc.jsonValue({ maxDepth: 1 })),
        generateName: fc.string({ maxLength: 10 }),
        labels: fc.oneof(fc.dictionary(fc.string({ maxLength: 70 }), fc.string({ maxLength: 70 }), { maxKeys: 3 }), fc.jsonValue({ maxDepth: 1 })),
        annotations: fc.dictionary(fc.string({ maxLength: 20 }), fc.string({ maxLength: 200 }), { maxKeys: 3 }),
        resourceVersion: fc.oneof(fc.constantFrom('0', '1', '-1', 'x', '99999999999999999999'), fc.jsonValue({ maxDepth: 0 })),
        finalizers: fc.array(fc.string({ maxLength: 20 }), { maxLength: 2 }),
        ownerReferences: fc.jsonValue({ maxDepth: 2 }),
        deletionTimestamp: fc.oneof(fc.constant('2020-01-01T00:00:00Z'), fc.string({ maxLength: 10 })),
      },
      { requiredKeys: [] },
    ),
    spec: fc.jsonValue({ maxDepth: 3 }),
    status: fc.jsonValue({ maxDepth: 2 }),
    data: fc.oneof(fc.dictionary(fc.string({ maxLength: 20 }), fc.string({ maxLength: 50 }), { maxKeys: 4 }), fc.jsonValue({ maxDepth: 2 })),
  },
  { requiredKeys: [] },
);

const jsonPatchArb = fc.array(
  fc.record(
    {
      op: fc.oneof(fc.constantFrom('add', 'remove', 'replace', 'move', 'copy', 'test'), fc.string({ maxLength: 6 })),
      path: fc.oneof(
        fc.constantFrom(
          '',
          '/',
          '/metadata/labels/a',
          '/metadata/name',
          '/data/k',
          '/spec/containers/0',
          '/spec/containers/-',
          '/metadata/labels/a~1b',
          '/x/~2',
          '/data/-1',
        ),
        fc.array(fc.string({ maxLength: 6 }), { maxLength: 4 }).map((s) => `/${s.join('/')}`),
        fc.jsonValue({ maxDepth: 0 }),
      ),
      from: fc.oneof(fc.constantFrom('/metadata/labels', '/data', '/metadata', ''), fc.string({ maxLength: 10 })),
      value: fc.jsonValue({ maxDepth: 3 }),
    },
    { requiredKeys: ['op'] },
  ),
  { maxLength: 5 },
);

/**
 * YAML whose aliases multiply: small on the wire, `width^depth` values once expanded. Capped at
 * 200 000 values here: past a few million one request holds the event loop for seconds (the
 * defect apiserver-regressions.test.ts reproduces), which would only slow the fuzzing down.
 */
const yamlBombArb = fc
  .tuple(
    fc.integer({ min: 2, max: 9 }),
    fc.integer({ min: 1, max: 9 }),
    fc.constantFrom('ConfigMap', 'Pod', 'Service'),
    fc.constantFrom('metadata.labels', 'metadata.annotations', 'data', 'spec.x', 'spec.containers', 'status.y'),
  )
  .map(([width, wanted, kind, at]) => {
    const depth = Math.min(wanted, Math.floor(Math.log(200_000) / Math.log(width)));
    const lines = [`a0: &a0 [${Array(width).fill('"lol"').join(',')}]`];
    for (let i = 1; i <= depth; i++)
      lines.push(
        `a${i}: &a${i} [${Array(width)
          .fill(`*a${i - 1}`)
          .join(',')}]`,
      );
    const [parent, field] = at.split('.');
    const placed = field === undefined ? `${parent}: *a${depth}` : `${parent}:\n  ${field}: *a${depth}`;
    return `${lines.join('\n')}\napiVersion: v1\nkind: ${kind}\n${at.startsWith('metadata') ? placed.replace('metadata:', 'metadata:\n  name: fuzz-bomb') : `metadata:\n  name: fuzz-bomb\n${placed}`}\n`;
  });

const bodyArb: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  { weight: 4, arbitrary: objectArb.map((o) => JSON.stringify(o)) },
  { weight: 2, arbitrary: jsonPatchArb.map((p) => JSON.stringify(p)) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? '') },
  { weight: 1, arbitrary: objectArb.map(toYaml) },
  { weight: 1, arbitrary: yamlBombArb },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      'null',
      '{',
      '[',
      '"',
      '{"a":',
      '!!binary x',
      '--- !ruby/object {}',
      'a: !!js/function "x"',
      '? [a]\n: b',
      '*undefined',
      '%YAML 9.9\n---\n',
    ),
  },
  { weight: 1, arbitrary: fc.nat({ max: 200_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`) }, // deep nesting
  { weight: 1, arbitrary: fc.nat({ max: 50_000 }).map((n) => `{"metadata":{"name":"fuzz-a"},"data":{"k":"${'x'.repeat(n * 20)}"}}`) }, // large
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }) }, // protobuf-ish bytes
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => new Uint8Array([0x6b, 0x38, 0x73, 0x00, ...b])) }, // the k8s protobuf magic
);

const methodArb = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE') },
  { weight: 1, arbitrary: fc.constantFrom('HEAD', 'OPTIONS', 'TRACE', 'CONNECT', 'PROPFIND', 'get', 'PATCH ') },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ-_'), minLength: 1, maxLength: 10 }) },
);

type Auth = 'admin' | 'none' | 'forged' | 'garbage';

const requestArb = fc
  .record({
    method: methodArb,
    path: pathArb,
    query: queryArb,
    contentType: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...contentTypes) }, { weight: 1, arbitrary: fc.string({ maxLength: 40 }) }),
    accept: fc.constantFrom(
      'application/json',
      'application/json;as=Table;v=v1;g=meta.k8s.io',
      'application/vnd.kubernetes.protobuf',
      '*/*',
      'application/com.github.proto-openapi.spec.v2@v1.0+protobuf',
      '',
    ),
    body: bodyArb,
    auth: fc.oneof({ weight: 8, arbitrary: fc.constant<Auth>('admin') }, { weight: 1, arbitrary: fc.constantFrom<Auth>('none', 'forged', 'garbage') }),
    extraHeaders: fc.array(
      fc.tuple(
        fc.constantFrom('Impersonate-User', 'X-Forwarded-For', 'Expect', 'User-Agent', 'Content-Encoding', 'Accept-Encoding'),
        fc.string({ maxLength: 30 }),
      ),
      { maxLength: 2 },
    ),
    chunked: fc.boolean(),
  })
  .map((r) => {
    // A cluster-wide DELETE of a collection would rightly delete the healthy client's objects too.
    if (r.method === 'DELETE' && !/\/namespaces\/[^/]+\/[^/]+/.test(r.path)) r.method = 'GET';
    return r;
  });

function toYaml(v: unknown, indent = ''): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  const entries = Array.isArray(v) ? v.map((x) => ['-', x] as const) : Object.entries(v).map(([k, x]) => [`${JSON.stringify(k)}:`, x] as const);
  if (entries.length === 0) return Array.isArray(v) ? '[]' : '{}';
  return entries.map(([k, x]) => `\n${indent}${k} ${toYaml(x, `${indent}  `)}`).join('');
}

// ---- the suite --------------------------------------------------------------------------------

describe('fuzz: the embedded API server under malformed requests', function () {
  this.timeout(fuzzTimeoutMs());
  const inputs = fuzzInputs(700);
  let dataDir: string;
  let api: ApiServer;
  let port: number;
  let agent: https.Agent;
  let healthy: ReturnType<typeof startHealthyClient>;
  const serverErrors = new Map<string, { count: number; example: string }>();

  /** A request through Node's client, as a well-behaved caller makes it. */
  function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = https.request(
        {
          host: '127.0.0.1',
          port,
          method,
          path,
          agent,
          headers: { authorization: `Bearer ${api.adminToken}`, 'content-type': 'application/json', ...(data ? { 'content-length': data.length } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  }
  async function expectStatus(want: number, method: string, path: string, body?: unknown): Promise<any> {
    const res = await call(method, path, body);
    if (res.status !== want) throw new FuzzFailure(`${method} ${path}: ${res.status}, expected ${want}: ${JSON.stringify(res.body).slice(0, 300)}`);
    return res.body;
  }

  const connect = () => tls.connect({ host: '127.0.0.1', port, ca: api.caCertPem, checkServerIdentity: () => undefined });

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'fuzz-apiserver-'));
    api = await startApiServer({ dataDir, port: 0, logger: pino({ level: 'silent' }) });
    port = Number(new URL(api.url).port);
    agent = new https.Agent({ keepAlive: true, ca: api.caCertPem, maxSockets: 4 });
    // Real objects for the fuzzed requests to hit.
    await expectStatus(201, 'POST', '/api/v1/namespaces', { metadata: { name: 'fuzz' } });
    await expectStatus(201, 'POST', '/api/v1/namespaces', { metadata: { name: 'healthy' } });
    await expectStatus(201, 'POST', '/api/v1/namespaces/fuzz/configmaps', { metadata: { name: 'target', labels: { a: 'b' } }, data: { k: 'v' } });
    await expectStatus(201, 'POST', '/api/v1/namespaces/fuzz/serviceaccounts', { metadata: { name: 'target' } });
    await expectStatus(201, 'POST', '/api/v1/namespaces/fuzz/services', {
      metadata: { name: 'target' },
      spec: { ports: [{ port: 80 }], selector: { app: 'a' } },
    });
    await expectStatus(201, 'POST', '/api/v1/namespaces/fuzz/pods', {
      metadata: { name: 'target', labels: { app: 'a' } },
      spec: { nodeName: 'node-1', containers: [{ name: 'app', image: 'app', ports: [{ containerPort: 80 }] }] },
    });
    await expectStatus(201, 'POST', '/apis/apps/v1/namespaces/fuzz/deployments', {
      metadata: { name: 'target' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'a' } },
        template: { metadata: { labels: { app: 'a' } }, spec: { containers: [{ name: 'app', image: 'app' }] } },
      },
    });
    let n = 0;
    healthy = startHealthyClient(async () => {
      const name = `h-${n++}`;
      await expectStatus(201, 'POST', '/api/v1/namespaces/healthy/configmaps', { metadata: { name }, data: { n: String(n) } });
      const got = await expectStatus(200, 'GET', `/api/v1/namespaces/healthy/configmaps/${name}`);
      assert.equal(got.data.n, String(n));
      await expectStatus(200, 'DELETE', `/api/v1/namespaces/healthy/configmaps/${name}`);
    });
  });

  after(async () => {
    await healthy?.stop();
    agent?.destroy();
    await api?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers every fuzzed request, and never with an unexpected 5xx', async () => {
    await fuzz('apiserver', 'HTTP requests', requestArb, { inputs: Math.round(inputs * 0.8), batch: 8 }, async (r) => {
      const token = { admin: api.adminToken, none: undefined, forged: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.', garbage: '\u00ff'.repeat(5) }[r.auth];
      const headers: Array<[string, string]> = [['Host', `127.0.0.1:${port}`], ['Connection', 'close'], ...r.extraHeaders];
      if (token !== undefined) headers.push(['Authorization', `Bearer ${token}`]);
      if (r.contentType !== '') headers.push(['Content-Type', r.contentType]);
      if (r.accept !== '') headers.push(['Accept', r.accept]);
      const raw: RawRequest = {
        method: r.method,
        target: `${r.path}${r.query}`,
        headers,
        body: typeof r.body === 'string' ? Buffer.from(r.body) : r.body,
        chunked: r.chunked,
      };
      const what = `${r.method} ${raw.target.slice(0, 200)} (${r.contentType}, ${raw.body.length} bytes, auth ${r.auth})`;
      const res = await within(15_000, `an answer to ${what}`, rawExchange(connect, encodeRequest(raw), { whole: false }));
      if (res.status >= 500) {
        // A HEAD answer has no body to say why: ask the same as GET.
        const explained = r.method === 'HEAD' ? await rawExchange(connect, encodeRequest({ ...raw, method: 'GET' }), { whole: true }) : res;
        const body = explained.text.slice(explained.text.indexOf('\r\n\r\n') + 4);
        const message = /"message":"((?:[^"\\]|\\.)*)"/.exec(body)?.[1] ?? body.slice(0, 200);
        const key = `${res.status} ${message.replace(/\d+/g, 'N').slice(0, 160)}`;
        const seen = serverErrors.get(key) ?? { count: 0, example: what };
        seen.count++;
        serverErrors.set(key, seen);
        throw new FuzzFailure(`${what} was answered ${res.status}: ${message}`);
      }
    });
  });

  it('answers every request head broken at the HTTP level, or closes it', async () => {
    const brokenArb = fc.record({
      head: fc.oneof(
        fc.string({ unit: 'binary-ascii', maxLength: 200 }),
        fc.constantFrom(
          'GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx',
          'GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n',
          'POST /api/v1/namespaces HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
          'GET /\0 HTTP/1.1\r\n\r\n',
          'GET / HTTP/9.9\r\n\r\n',
          'GET / HTTP/1.1\r\nHost: a\r\n folded: header\r\n\r\n',
          `GET / HTTP/1.1\r\nX: ${'x'.repeat(20_000)}\r\n\r\n`,
          `GET /${'a'.repeat(100_000)} HTTP/1.1\r\n\r\n`,
        ),
      ),
      tail: fc.uint8Array({ maxLength: 64 }),
    });
    await fuzz('apiserver', 'broken HTTP heads', brokenArb, { inputs: Math.round(inputs * 0.2), batch: 16 }, async ({ head, tail }) => {
      const bytes = Buffer.concat([Buffer.from(head, 'latin1'), tail]);
      // Node's parser answers 400 or closes; either way the connection must not stay up for long.
      const s = connect();
      s.on('error', () => {});
      s.resume();
      s.write(bytes);
      s.end();
      await within(15_000, `closing the connection after ${JSON.stringify(head.slice(0, 80))}`, new Promise((r) => s.once('close', r)));
    });
  });

  it('kept the healthy client whole and still serves, also after a restart from its data directory', async () => {
    const run = await healthy.stop();
    for (const [key, { count, example }] of serverErrors) console.log(`      5xx ${key}: ${count}× (e.g. ${example})`);
    assert.deepEqual(run.errors, [], `the healthy client saw ${run.errors.length} error(s)`);
    assert.ok(run.ok > 0);
    console.log(`      healthy client: ${run.ok} create/read/delete rounds, 0 errors`);
    await expectStatus(200, 'GET', '/api/v1/namespaces/healthy');
    agent.destroy();
    await api.close();
    api = await startApiServer({ dataDir, port: 0, logger: pino({ level: 'silent' }) });
    port = Number(new URL(api.url).port);
    agent = new https.Agent({ keepAlive: true, ca: api.caCertPem, maxSockets: 4 });
    await expectStatus(200, 'GET', '/api/v1/namespaces/healthy');
    await expectStatus(201, 'POST', '/api/v1/namespaces/healthy/configmaps', { metadata: { name: 'after-restart' } });
  });
});

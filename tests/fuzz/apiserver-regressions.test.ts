// Defects the fuzz suite found in the embedded API server, one minimal reproduction each: these
// tests failed until the fix (a defect gets a failing test first), and the fuzzer itself now
// fails on a 500 again.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import pino from 'pino';
import { startApiServer, type ApiServer } from '@ambient/local-cluster/apiserver';
import { encodeRequest, rawExchange } from './http-wire.ts';

describe('API server: defects found by fuzzing', function () {
  this.timeout(30_000);
  let dataDir: string;
  let api: ApiServer;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'fuzz-defects-'));
    api = await startApiServer({ dataDir, port: 0, logger: pino({ level: 'silent' }) });
  });
  after(async () => {
    await api?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  function send(method: string, target: string, opts: { token?: string; contentType?: string; body?: string } = {}) {
    const headers: Array<[string, string]> = [
      ['Host', 'localhost'],
      ['Connection', 'close'],
    ];
    if (opts.token !== undefined) headers.push(['Authorization', `Bearer ${opts.token}`]);
    if (opts.contentType !== undefined) headers.push(['Content-Type', opts.contentType]);
    const port = Number(new URL(api.url).port);
    const connect = () => tls.connect({ host: '127.0.0.1', port, ca: api.caCertPem, checkServerIdentity: () => undefined });
    return rawExchange(connect, encodeRequest({ method, target, headers, body: Buffer.from(opts.body ?? '') }), { whole: true });
  }

  // request-path.ts decodes each segment with decodeURIComponent, which throws URIError on a
  // lone or truncated escape; the handler turns that into a 500 (and an error log line), for
  // any caller, before authentication.
  it('apiserver: answers a path with a malformed percent-encoding (/api/v1/namespaces/%) with a 4xx, not 500', async () => {
    const res = await send('GET', '/api/v1/namespaces/%');
    assert.ok(res.status >= 400 && res.status < 500, `answered ${res.status}: ${res.text.slice(-200)}`);
  });

  // http-handler.ts parses req.url against a base URL: a target starting with `//` is read as a
  // scheme-relative URL whose host is the first segment, so `//%2f` throws "Invalid URL" (500)
  // and `//anything/api/v1/...` is served as `/api/v1/...`.
  it('apiserver: answers a request target starting with // (//%2f) with a 4xx, not 500', async () => {
    const res = await send('GET', '//%2f');
    assert.ok(res.status >= 400 && res.status < 500, `answered ${res.status}: ${res.text.slice(-200)}`);
  });

  // request-body.ts loads YAML with js-yaml's defaults, which expand aliases without limit: a
  // ~700-byte body of nested aliases becomes 9^6 = 531 441 strings, stored (a 3.7 MB object)
  // after seconds of blocked event loop; 9^7 blocks it for ~7 s and answers 500 "Invalid string
  // length" (Kubernetes refused the same, CVE-2019-11253). A limit on aliases (js-yaml's
  // `maxAliases`) refuses it at once.
  it('apiserver: refuses a YAML body whose aliases expand to 9^6 values (billion laughs) quickly, with a 4xx', async () => {
    const lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i <= 6; i++)
      lines.push(
        `a${i}: &a${i} [${Array(9)
          .fill(`*a${i - 1}`)
          .join(',')}]`,
      );
    const body = `${lines.join('\n')}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n  k: v\n`;
    const started = performance.now();
    const res = await send('POST', '/api/v1/namespaces/default/configmaps', { token: api.adminToken, contentType: 'application/yaml', body });
    const ms = Math.round(performance.now() - started);
    assert.ok(res.status >= 400 && res.status < 500, `a ${body.length}-byte body was answered ${res.status} after ${ms} ms`);
    assert.ok(ms < 1000, `answered after ${ms} ms`);
  });
});

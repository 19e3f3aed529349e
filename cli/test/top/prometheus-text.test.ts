import assert from 'node:assert/strict';
import { parsePrometheusText, type Sample } from '../../src/top/prometheus-text.ts';

// Rendered by the waypoint's and ztunnel's own registries (waypoint-metrics.ts, ztunnel
// metrics.ts through prom-client), one request series and one histogram cut short.
const WAYPOINT_LABELS =
  'reporter="waypoint",source_workload="productpage-v1",source_canonical_service="productpage",source_canonical_revision="v1",' +
  'source_workload_namespace="shop",source_principal="spiffe://cluster.local/ns/shop/sa/productpage",source_app="productpage",' +
  'source_version="v1",source_cluster="Kubernetes",destination_workload="reviews-v2",destination_workload_namespace="shop",' +
  'destination_principal="spiffe://cluster.local/ns/shop/sa/reviews",destination_app="reviews",destination_version="v2",' +
  'destination_service="reviews.shop.svc.cluster.local",destination_canonical_service="reviews",destination_canonical_revision="v2",' +
  'destination_service_name="reviews",destination_service_namespace="shop",destination_cluster="Kubernetes",request_protocol="http",' +
  'response_code="503",grpc_response_status="",response_flags="-",connection_security_policy="mutual_tls"';

const PROM_CLIENT_PAGE = `# HELP waypoint_retries_total Failed upstream attempts by what the retry policy made of them
# TYPE waypoint_retries_total counter

# HELP istio_requests_total Requests handled by the waypoint
# TYPE istio_requests_total counter
istio_requests_total{${WAYPOINT_LABELS}} 1

# HELP istio_request_duration_milliseconds Request duration in milliseconds
# TYPE istio_request_duration_milliseconds histogram
istio_request_duration_milliseconds_bucket{le="0.5",${WAYPOINT_LABELS}} 0
istio_request_duration_milliseconds_bucket{le="100",${WAYPOINT_LABELS}} 1
istio_request_duration_milliseconds_bucket{le="+Inf",${WAYPOINT_LABELS}} 1
istio_request_duration_milliseconds_sum{${WAYPOINT_LABELS}} 70
istio_request_duration_milliseconds_count{${WAYPOINT_LABELS}} 1

# HELP istio_tcp_sent_bytes_total Bytes sent toward the destination during TCP connections
# TYPE istio_tcp_sent_bytes_total counter
istio_tcp_sent_bytes_total{reporter="destination",destination_service="echo.demo.svc.cluster.local",source_principal="x\\"y\\\\z"} 1234

# HELP ztunnel_captured_pods Pods whose traffic this ztunnel captures
# TYPE ztunnel_captured_pods gauge
ztunnel_captured_pods 3
`;

function one(line: string): Sample | undefined {
  const samples = parsePrometheusText(line);
  assert.ok(samples.length <= 1, `one line gave ${samples.length} samples`);
  return samples[0];
}

describe('parsePrometheusText', () => {
  it("reads a page as prom-client renders the proxies' registries", () => {
    const samples = parsePrometheusText(PROM_CLIENT_PAGE);
    assert.deepEqual(
      samples.map((s) => [s.name, s.labels.le, s.value]),
      [
        ['istio_requests_total', undefined, 1],
        ['istio_request_duration_milliseconds_bucket', '0.5', 0],
        ['istio_request_duration_milliseconds_bucket', '100', 1],
        ['istio_request_duration_milliseconds_bucket', '+Inf', 1],
        ['istio_request_duration_milliseconds_sum', undefined, 70],
        ['istio_request_duration_milliseconds_count', undefined, 1],
        ['istio_tcp_sent_bytes_total', undefined, 1234],
        ['ztunnel_captured_pods', undefined, 3],
      ],
    );
    const request = samples[0]!;
    assert.equal(Object.keys(request.labels).length, 25);
    assert.equal(request.labels.destination_service, 'reviews.shop.svc.cluster.local');
    assert.equal(request.labels.response_code, '503');
    assert.equal(request.labels.grpc_response_status, '');
    assert.equal(samples[1]!.labels.reporter, 'waypoint');
    assert.equal(samples[6]!.labels.source_principal, 'x"y\\z');
  });

  const cases: { line: string; want: Sample | undefined; why: string }[] = [
    { why: 'a sample without labels', line: 'up 1', want: { name: 'up', labels: {}, value: 1 } },
    { why: 'an empty label set', line: 'up{} 1', want: { name: 'up', labels: {}, value: 1 } },
    { why: 'colons in a metric name (recording rules)', line: 'job:up:sum 2', want: { name: 'job:up:sum', labels: {}, value: 2 } },
    { why: 'labels', line: 'x{a="1",b="two"} 3', want: { name: 'x', labels: { a: '1', b: 'two' }, value: 3 } },
    { why: 'a trailing comma in the label set', line: 'x{a="1",} 3', want: { name: 'x', labels: { a: '1' }, value: 3 } },
    { why: 'blanks around label names, = and commas', line: 'x{ a = "1" ,\tb="2" } 3', want: { name: 'x', labels: { a: '1', b: '2' }, value: 3 } },
    { why: 'an escaped backslash', line: 'x{p="C:\\\\dir"} 1', want: { name: 'x', labels: { p: 'C:\\dir' }, value: 1 } },
    { why: 'an escaped quote', line: 'x{p="say \\"hi\\""} 1', want: { name: 'x', labels: { p: 'say "hi"' }, value: 1 } },
    { why: 'an escaped newline', line: 'x{p="a\\nb"} 1', want: { name: 'x', labels: { p: 'a\nb' }, value: 1 } },
    { why: 'another escape, kept as written', line: 'x{p="a\\tb"} 1', want: { name: 'x', labels: { p: 'a\\tb' }, value: 1 } },
    { why: 'braces, commas and # inside a label value', line: 'x{p="}{,# =\\""} 1', want: { name: 'x', labels: { p: '}{,# ="' }, value: 1 } },
    { why: 'an empty label value', line: 'x{p=""} 1', want: { name: 'x', labels: { p: '' }, value: 1 } },
    { why: 'UTF-8 in a label value', line: 'x{p="héllo ✓"} 1', want: { name: 'x', labels: { p: 'héllo ✓' }, value: 1 } },
    { why: 'le="+Inf" stays a string label', line: 'h_bucket{le="+Inf"} 7', want: { name: 'h_bucket', labels: { le: '+Inf' }, value: 7 } },
    {
      why: 'a label named __proto__ stays a label',
      line: 'x{__proto__="p"} 1',
      want: { name: 'x', labels: Object.fromEntries([['__proto__', 'p']]), value: 1 },
    },
    { why: 'a value of +Inf', line: 'x +Inf', want: { name: 'x', labels: {}, value: Number.POSITIVE_INFINITY } },
    { why: 'a value of -Inf', line: 'x -Inf', want: { name: 'x', labels: {}, value: Number.NEGATIVE_INFINITY } },
    { why: 'a value of Inf without a sign', line: 'x Inf', want: { name: 'x', labels: {}, value: Number.POSITIVE_INFINITY } },
    { why: 'Infinity spelled out, as Go reads it', line: 'x Infinity', want: { name: 'x', labels: {}, value: Number.POSITIVE_INFINITY } },
    { why: 'a value of NaN', line: 'x NaN', want: { name: 'x', labels: {}, value: Number.NaN } },
    { why: 'an exponent', line: 'x 1.5e+06', want: { name: 'x', labels: {}, value: 1_500_000 } },
    { why: 'a negative fraction', line: 'x -0.25', want: { name: 'x', labels: {}, value: -0.25 } },
    { why: 'a value starting with a point', line: 'x .5', want: { name: 'x', labels: {}, value: 0.5 } },
    { why: 'a timestamp in milliseconds', line: 'x{a="1"} 3 1712345678901', want: { name: 'x', labels: { a: '1' }, value: 3 } },
    { why: 'a negative timestamp', line: 'x 3 -1000', want: { name: 'x', labels: {}, value: 3 } },
    { why: 'an OpenMetrics timestamp in seconds', line: 'x 3 1712345678.901', want: { name: 'x', labels: {}, value: 3 } },
    {
      why: 'an OpenMetrics exemplar',
      line: 'h_bucket{le="5"} 4 # {trace_id="abc"} 4.2 1712345678.9',
      want: { name: 'h_bucket', labels: { le: '5' }, value: 4 },
    },
    { why: 'tabs and extra blanks between fields', line: '  x{a="1"}\t 3 \t 100  ', want: { name: 'x', labels: { a: '1' }, value: 3 } },
    { why: 'a CRLF line ending', line: 'x{a="1"} 3\r', want: { name: 'x', labels: { a: '1' }, value: 3 } },
    { why: 'a HELP line', line: '# HELP x Things, with "quotes" and \\n', want: undefined },
    { why: 'a TYPE line', line: '# TYPE x counter', want: undefined },
    { why: 'a plain comment, indented', line: '   # just a comment', want: undefined },
    { why: 'the OpenMetrics end marker', line: '# EOF', want: undefined },
    { why: 'a blank line', line: '  \t', want: undefined },
    { why: 'a line holding only a CR', line: '\r', want: undefined },
    { why: 'a line without a value', line: 'x{a="1"}', want: undefined },
    { why: 'a value glued to the label set', line: 'x{a="1"}3', want: undefined },
    { why: 'a value that is not a number', line: 'x abc', want: undefined },
    { why: 'a hexadecimal value (Number() would take it)', line: 'x 0x10', want: undefined },
    { why: 'a timestamp that is not a number', line: 'x 1 yesterday', want: undefined },
    { why: 'a line with a third field', line: 'x 1 2 3', want: undefined },
    { why: 'an unterminated label value', line: 'x{a="1} 3', want: undefined },
    { why: 'a backslash ending the line inside a value', line: 'x{a="1\\', want: undefined },
    { why: 'an unquoted label value', line: 'x{a=1} 3', want: undefined },
    { why: 'a label without =', line: 'x{a"1"} 3', want: undefined },
    { why: 'a label name starting with a digit', line: 'x{1a="1"} 3', want: undefined },
    { why: 'a repeated label name', line: 'x{a="1",a="2"} 3', want: undefined },
    { why: 'labels without a comma between them', line: 'x{a="1" b="2"} 3', want: undefined },
    { why: 'a label set never closed', line: 'x{a="1" 3', want: undefined },
    { why: 'a metric name starting with a digit', line: '1x 3', want: undefined },
    { why: 'a quoted UTF-8 metric name (Prometheus 3), not written by our proxies', line: '{"my.metric"} 3', want: undefined },
  ];
  for (const c of cases) {
    it(`${c.want === undefined ? 'skips' : 'reads'} ${c.why}`, () => {
      assert.deepEqual(one(c.line), c.want);
    });
  }

  it('keeps the good lines around a bad one, in order', () => {
    const samples = parsePrometheusText('a 1\nb{x="1} 2\nc 3\r\nd{ 4\n# c\ne 5');
    assert.deepEqual(
      samples.map((s) => s.name),
      ['a', 'c', 'e'],
    );
  });

  it('reads nothing from an empty page', () => {
    assert.deepEqual(parsePrometheusText(''), []);
  });

  it('never throws, whatever the bytes', () => {
    // A fixed-seed generator over the characters the grammar cares about: the run is the same
    // every time, and a failure names its input.
    let seed = 42;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const alphabet = ['x', '_', ':', '{', '}', '=', '"', '\\', ',', ' ', '\t', '\n', '\r', '#', '1', '.', 'e', '+', '-', 'Inf', 'NaN', 'le', 'é'];
    for (let round = 0; round < 2000; round++) {
      let text = '';
      const length = next(40);
      for (let i = 0; i < length; i++) text += alphabet[next(alphabet.length)];
      assert.doesNotThrow(() => parsePrometheusText(text), JSON.stringify(text));
      for (const s of parsePrometheusText(text)) assert.equal(typeof s.value, 'number', JSON.stringify(text));
    }
  });
});

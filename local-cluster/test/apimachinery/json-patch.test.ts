import assert from 'node:assert/strict';
import { ApiError } from '../../src/apimachinery/errors.ts';
import { applyJsonPatch } from '../../src/apimachinery/json-patch.ts';

const isReason = (reason: string) => (err: unknown) => err instanceof ApiError && err.reason === reason;

describe('applyJsonPatch', () => {
  const doc = { metadata: { labels: { app: 'web' } }, spec: { replicas: 1, ports: [80, 443] } };

  const cases: [string, unknown[], unknown][] = [
    [
      'add a member',
      [{ op: 'add', path: '/metadata/labels/tier', value: 'front' }],
      { metadata: { labels: { app: 'web', tier: 'front' } }, spec: { replicas: 1, ports: [80, 443] } },
    ],
    [
      'add into an array',
      [{ op: 'add', path: '/spec/ports/1', value: 8080 }],
      { metadata: { labels: { app: 'web' } }, spec: { replicas: 1, ports: [80, 8080, 443] } },
    ],
    [
      'append with -',
      [{ op: 'add', path: '/spec/ports/-', value: 9090 }],
      { metadata: { labels: { app: 'web' } }, spec: { replicas: 1, ports: [80, 443, 9090] } },
    ],
    ['remove', [{ op: 'remove', path: '/spec/ports/0' }], { metadata: { labels: { app: 'web' } }, spec: { replicas: 1, ports: [443] } }],
    ['replace', [{ op: 'replace', path: '/spec/replicas', value: 3 }], { metadata: { labels: { app: 'web' } }, spec: { replicas: 3, ports: [80, 443] } }],
    ['move', [{ op: 'move', from: '/spec/replicas', path: '/spec/count' }], { metadata: { labels: { app: 'web' } }, spec: { count: 1, ports: [80, 443] } }],
    [
      'copy',
      [{ op: 'copy', from: '/metadata/labels', path: '/spec/selector' }],
      { metadata: { labels: { app: 'web' } }, spec: { replicas: 1, ports: [80, 443], selector: { app: 'web' } } },
    ],
    [
      'test then replace',
      [
        { op: 'test', path: '/spec/replicas', value: 1 },
        { op: 'replace', path: '/spec/replicas', value: 2 },
      ],
      { metadata: { labels: { app: 'web' } }, spec: { replicas: 2, ports: [80, 443] } },
    ],
    ['replace the whole document', [{ op: 'replace', path: '', value: { a: 1 } }], { a: 1 }],
  ];
  for (const [name, ops, expected] of cases) {
    it(name, () => assert.deepEqual(applyJsonPatch(doc, ops), expected));
  }

  it('unescapes ~1 and ~0 in pointers', () => {
    const target = { metadata: { annotations: { 'example.com/a~b': 'x' } } };
    const result = applyJsonPatch(target, [
      { op: 'replace', path: '/metadata/annotations/example.com~1a~0b', value: 'y' },
      { op: 'add', path: '/metadata/annotations/istio.io~1rev', value: 'z' },
    ]);
    assert.deepEqual(result, { metadata: { annotations: { 'example.com/a~b': 'y', 'istio.io/rev': 'z' } } });
  });

  it('rejects a failed test with 422 Invalid and applies nothing', () => {
    const before = structuredClone(doc);
    assert.throws(
      () =>
        applyJsonPatch(doc, [
          { op: 'replace', path: '/spec/replicas', value: 5 },
          { op: 'test', path: '/spec/replicas', value: 1 },
        ]),
      (err: unknown) => err instanceof ApiError && err.code === 422 && /testing value "\/spec\/replicas" failed/.test(err.message),
    );
    assert.deepEqual(doc, before);
  });

  const invalid: [string, unknown[]][] = [
    ['remove of a missing key', [{ op: 'remove', path: '/spec/missing' }]],
    ['replace of a missing key', [{ op: 'replace', path: '/spec/missing', value: 1 }]],
    ['add under a missing parent', [{ op: 'add', path: '/nope/deeper', value: 1 }]],
    ['an index past the end', [{ op: 'add', path: '/spec/ports/5', value: 1 }]],
    ['a non-numeric index', [{ op: 'remove', path: '/spec/ports/x' }]],
    ['an unknown op', [{ op: 'frobnicate', path: '/spec' }]],
    ['add without a value', [{ op: 'add', path: '/spec/x' }]],
    ['a pointer without a leading slash', [{ op: 'add', path: 'spec', value: 1 }]],
    ['a move into its own child', [{ op: 'move', from: '/spec', path: '/spec/inner' }]],
  ];
  for (const [name, ops] of invalid) {
    it(`rejects ${name} with 422 Invalid`, () => assert.throws(() => applyJsonPatch(doc, ops), isReason('Invalid')));
  }

  it('rejects a body that is not a list with 400 BadRequest', () => {
    assert.throws(() => applyJsonPatch(doc, { op: 'add' }), isReason('BadRequest'));
  });
});

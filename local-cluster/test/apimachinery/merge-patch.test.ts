import assert from 'node:assert/strict';
import { applyMergePatch } from '../../src/apimachinery/merge-patch.ts';

describe('applyMergePatch', () => {
  // RFC 7386, Appendix A.
  const examples: [unknown, unknown, unknown][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [
      ['a', 'b'],
      ['c', 'd'],
      ['c', 'd'],
    ],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  examples.forEach(([target, patch, expected], i) => {
    it(`RFC 7386 example ${i + 1}: ${JSON.stringify(patch)}`, () => {
      assert.deepEqual(applyMergePatch(target, patch), expected);
    });
  });

  it('never mutates its inputs, and the result shares nothing with them', () => {
    const target = { metadata: { labels: { a: '1' } }, spec: { list: [1, 2] } };
    const patch = { metadata: { labels: { b: '2' } } };
    const before = structuredClone(target);
    const result = applyMergePatch(target, patch) as typeof target;
    assert.deepEqual(target, before);
    result.spec.list.push(3);
    result.metadata.labels.a = 'x';
    assert.deepEqual(target, before);
  });
});

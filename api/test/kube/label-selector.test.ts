import assert from 'node:assert/strict';
import { matchesLabelMap, matchesLabelSelector, type LabelSelector } from '../../src/kube/label-selector.ts';

const web = { app: 'web', tier: 'front', version: '2' };

describe('matchesLabelMap', () => {
  it('needs every key with its value; an empty or missing map matches everything', () => {
    assert.equal(matchesLabelMap({ app: 'web', tier: 'front' }, web), true);
    assert.equal(matchesLabelMap({ app: 'db' }, web), false);
    assert.equal(matchesLabelMap({ app: 'web' }, undefined), false);
    assert.equal(matchesLabelMap({}, web), true);
    assert.equal(matchesLabelMap(undefined, undefined), true);
  });
});

describe('matchesLabelSelector', () => {
  const cases: [string, LabelSelector | undefined, Record<string, string> | undefined, boolean][] = [
    ['a missing selector selects nothing', undefined, web, false],
    ['{} selects everything', {}, web, true],
    ['matchLabels', { matchLabels: { app: 'web' } }, web, true],
    ['matchLabels mismatch', { matchLabels: { app: 'db' } }, web, false],
    ['In', { matchExpressions: [{ key: 'tier', operator: 'In', values: ['front', 'edge'] }] }, web, true],
    ['In, label missing', { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }, web, false],
    ['NotIn, label missing', { matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, web, true],
    ['NotIn', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }] }, web, false],
    ['Exists', { matchExpressions: [{ key: 'version', operator: 'Exists' }] }, web, true],
    ['DoesNotExist', { matchExpressions: [{ key: 'canary', operator: 'DoesNotExist' }] }, web, true],
    ['DoesNotExist, present', { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, web, false],
    ['labels and expressions ANDed', { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['back'] }] }, web, false],
    ['an unknown operator matches nothing', { matchExpressions: [{ key: 'app', operator: 'Gt', values: ['1'] }] }, web, false],
    ['no labels at all', { matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, undefined, true],
  ];
  for (const [name, selector, labels, expected] of cases) {
    it(`${name} → ${expected}`, () => assert.equal(matchesLabelSelector(selector, labels), expected));
  }
});

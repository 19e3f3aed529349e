import assert from 'node:assert/strict';
import { ApiError } from '../../src/apimachinery/errors.ts';
import { fieldSelectorName, parseFieldSelector } from '../../src/apimachinery/field-selector.ts';
import { labelSelectorFromObject, parseLabelSelector } from '../../src/apimachinery/label-selector.ts';
import type { KubeObject } from '../../src/apimachinery/types.ts';

const web = { app: 'web', tier: 'front', version: '2' };

describe('parseLabelSelector', () => {
  const cases: [string, Record<string, string> | undefined, boolean][] = [
    ['', web, true],
    ['', undefined, true],
    ['app=web', web, true],
    ['app==web', web, true],
    ['app=db', web, false],
    ['app!=db', web, true],
    ['app!=web', web, false],
    ['missing!=x', web, true],
    ['app in (web,db)', web, true],
    ['app in (db, cache)', web, false],
    ['app notin (db)', web, true],
    ['missing notin (db)', web, true],
    ['app notin (web)', web, false],
    ['app', web, true],
    ['missing', web, false],
    ['!missing', web, true],
    ['!app', web, false],
    ['app=web,tier=front', web, true],
    ['app=web, tier=back', web, false],
    ['  app = web ,  !gone ', web, true],
    ['version>1', web, true],
    ['version<2', web, false],
    ['example.com/team=a', { 'example.com/team': 'a' }, true],
    ['empty=', { empty: '' }, true],
    ['app=web', undefined, false],
  ];
  for (const [selector, labels, expected] of cases) {
    it(`${JSON.stringify(selector)} on ${JSON.stringify(labels)} → ${expected}`, () => {
      assert.equal(parseLabelSelector(selector)(labels), expected);
    });
  }

  const malformed = ['app in web', 'app in ()', 'app=web,', ',app', 'app=(x)', 'a b', '!', 'app in (a b)', 'bad key!x=1', '-bad=1', 'app=va lue', 'x>abc'];
  for (const selector of malformed) {
    it(`rejects ${JSON.stringify(selector)} with BadRequest`, () => {
      assert.throws(
        () => parseLabelSelector(selector),
        (err: unknown) => err instanceof ApiError && err.reason === 'BadRequest' && err.code === 400 && /unable to parse requirement/.test(err.message),
      );
    });
  }
});

describe('labelSelectorFromObject', () => {
  it('matches everything for undefined, null and {}', () => {
    for (const sel of [undefined, null, {}]) assert.equal(labelSelectorFromObject(sel)({ a: 'b' }), true);
  });

  it('ANDs matchLabels and matchExpressions', () => {
    const m = labelSelectorFromObject({
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['front', 'edge'] },
        { key: 'canary', operator: 'DoesNotExist' },
        { key: 'version', operator: 'Exists' },
        { key: 'zone', operator: 'NotIn', values: ['b'] },
      ],
    });
    assert.equal(m(web), true);
    assert.equal(m({ ...web, canary: 'true' }), false);
    assert.equal(m({ ...web, tier: 'back' }), false);
    assert.equal(m({ app: 'web', tier: 'front' }), false);
  });

  it('rejects In without values and Exists with values', () => {
    assert.throws(() => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }), /values must be non-empty/);
    assert.throws(() => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }), /values must be empty/);
  });
});

describe('parseFieldSelector', () => {
  const pod: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-1', namespace: 'shop' },
    spec: { nodeName: 'node-1', priority: 5 },
    status: { phase: 'Running' },
  };
  const cases: [string, boolean][] = [
    ['', true],
    ['metadata.name=web-1', true],
    ['metadata.name==web-1', true],
    ['metadata.name!=web-1', false],
    ['metadata.namespace=shop,spec.nodeName=node-1', true],
    ['spec.nodeName=node-2', false],
    ['status.phase!=Failed,status.phase!=Succeeded', true],
    ['spec.schedulerName=', true],
    ['spec.priority=5', true],
  ];
  for (const [selector, expected] of cases) {
    it(`${JSON.stringify(selector)} → ${expected}`, () => assert.equal(parseFieldSelector(selector)(pod), expected));
  }

  it('matches escaped separators literally', () => {
    const obj: KubeObject = { apiVersion: 'v1', kind: 'Event', metadata: { name: 'a,b=c' } };
    assert.equal(parseFieldSelector('metadata.name=a\\,b\\=c')(obj), true);
  });

  for (const selector of ['metadata.name', 'name~x', '=x', 'a=b=c']) {
    it(`rejects ${JSON.stringify(selector)} with BadRequest`, () => {
      assert.throws(
        () => parseFieldSelector(selector),
        (err: unknown) => err instanceof ApiError && err.reason === 'BadRequest',
      );
    });
  }

  it('reports the name a selector pins, for watch optimisation', () => {
    assert.equal(fieldSelectorName('metadata.name=web-1'), 'web-1');
    assert.equal(fieldSelectorName('metadata.namespace=a,metadata.name==b'), 'b');
    assert.equal(fieldSelectorName('metadata.name!=web-1'), undefined);
    assert.equal(fieldSelectorName(''), undefined);
  });
});

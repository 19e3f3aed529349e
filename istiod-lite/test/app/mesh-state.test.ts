import assert from 'node:assert/strict';
import { versionResources } from '../../src/mesh-state.ts';

describe('versionResources', () => {
  it('keeps the same object for an unchanged resource and reports only real changes', () => {
    const first = versionResources(
      undefined,
      new Map<string, object>([
        ['a', { x: 1 }],
        ['b', { x: 2 }],
      ]),
    );
    assert.deepEqual([...first.changed].sort(), ['a', 'b']);
    const second = versionResources(
      first.resources,
      new Map<string, object>([
        ['a', { x: 1 }],
        ['b', { x: 3 }],
        ['c', { x: 4 }],
      ]),
    );
    assert.equal(second.resources.get('a'), first.resources.get('a'), 'unchanged: same object, so packed bytes are reused');
    assert.notEqual(second.resources.get('b')!.version, first.resources.get('b')!.version);
    assert.deepEqual([...second.changed].sort(), ['b', 'c']);
  });

  it('reports a removed resource as changed', () => {
    const first = versionResources(
      undefined,
      new Map<string, object>([
        ['a', {}],
        ['gone', {}],
      ]),
    );
    const second = versionResources(first.resources, new Map<string, object>([['a', {}]]));
    assert.deepEqual([...second.changed], ['gone']);
    assert.equal(second.resources.has('gone'), false);
  });
});

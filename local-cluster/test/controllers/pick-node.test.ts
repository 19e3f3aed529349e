import assert from 'node:assert/strict';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { pickNode } from '../../src/controllers/pick-node.ts';

const node = (name: string, opts: { ready?: boolean; labels?: Record<string, string>; unschedulable?: boolean } = {}): V1Node => ({
  metadata: { name, labels: { 'kubernetes.io/hostname': name, ...opts.labels } },
  spec: { unschedulable: opts.unschedulable ?? false },
  status: { conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }] },
});
const pod = (spec: Partial<NonNullable<V1Pod['spec']>> = {}): V1Pod => ({ metadata: { name: 'p' }, spec: { containers: [], ...spec } });

describe('scheduling choice', () => {
  const cases: [string, V1Pod, V1Node[], Record<string, number>, string | undefined][] = [
    ['the node with fewest pods', pod(), [node('a'), node('b')], { a: 2, b: 1 }, 'b'],
    ['the first name on a tie', pod(), [node('b'), node('a')], {}, 'a'],
    ['only Ready nodes', pod(), [node('a', { ready: false }), node('b')], { b: 9 }, 'b'],
    ['not cordoned nodes', pod(), [node('a', { unschedulable: true }), node('b')], { b: 9 }, 'b'],
    [
      'nodes matching the nodeSelector',
      pod({ nodeSelector: { zone: 'z2' } }),
      [node('a', { labels: { zone: 'z1' } }), node('b', { labels: { zone: 'z2' } })],
      { b: 5 },
      'b',
    ],
    ['no node when the nodeSelector matches none', pod({ nodeSelector: { zone: 'z9' } }), [node('a')], {}, undefined],
    [
      'nodes matching required node affinity',
      pod({
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['b'] }] }],
            },
          },
        },
      }),
      [node('a'), node('b')],
      { b: 3 },
      'b',
    ],
    ['no node when none exists', pod(), [], {}, undefined],
  ];
  for (const [what, p, nodes, load, expected] of cases) {
    it(`picks ${what}`, () => assert.equal(pickNode(p, nodes, new Map(Object.entries(load))), expected));
  }
});

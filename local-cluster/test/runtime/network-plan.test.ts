import assert from 'node:assert/strict';
import { checkNodeIndex, checkPodIp, clusterIdFor, podKey, podNetns } from '../../src/runtime/network-plan.ts';
import { renderHostsFile } from '../../src/runtime/pod-hosts.ts';

describe('network plan', () => {
  it('derives a 6-hex cluster id from the absolute data dir', () => {
    const id = clusterIdFor('/tmp/x/../data');
    assert.match(id, /^[0-9a-f]{6}$/);
    assert.equal(id, clusterIdFor('/tmp/data'));
    assert.notEqual(id, clusterIdFor('/tmp/data2'));
  });

  it('names a pod netns from the uid prefix, hashing a uid that is not hex', () => {
    assert.equal(podNetns('abc123', '3f2a9c1e-0000-4000-8000-000000000000'), 'lcabc123-p3f2a9c1e');
    assert.match(podKey('my-pod'), /^[0-9a-f]{8}$/);
  });

  it('accepts only usable pod addresses of the node cidr', () => {
    checkPodIp('10.244.1.2', '10.244.1.0/24');
    checkPodIp('10.244.1.254', '10.244.1.0/24');
    for (const ip of ['10.244.1.1', '10.244.1.255', '10.244.2.5', '10.244.1', 'x']) {
      assert.throws(() => checkPodIp(ip, '10.244.1.0/24'), new RegExp(`pod ip "${ip.replaceAll('.', '\\.')}"`));
    }
  });

  it('rejects node indexes outside 1..253', () => {
    for (const i of [0, 254, 1.5]) assert.throws(() => checkNodeIndex(i), new RegExp(`got ${i}`));
  });
});

describe('renderHostsFile', () => {
  it('lists localhost and then each entry', () => {
    const text = renderHostsFile([{ ip: '10.96.0.10', names: ['echo.shop.svc.cluster.local', 'echo'] }]);
    assert.ok(text.includes('127.0.0.1\tlocalhost\n'));
    assert.ok(text.endsWith('10.96.0.10\techo.shop.svc.cluster.local echo\n'));
  });

  it('rejects a name with whitespace or a bad ip, naming it', () => {
    assert.throws(() => renderHostsFile([{ ip: '10.96.0.1', names: ['a b'] }]), /invalid name: "a b"/);
    assert.throws(() => renderHostsFile([{ ip: '10.96.0.300', names: ['a'] }]), /invalid ip: "10.96.0.300"/);
    assert.throws(() => renderHostsFile([{ ip: '10.96.0.1', names: [] }]), /no names/);
  });
});

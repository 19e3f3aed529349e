import assert from 'node:assert/strict';
import { allocatePodIp } from '../../src/kubelet/pod-ip-allocator.ts';

describe('pod IP allocation', () => {
  it('starts at .2 and skips used addresses', () => {
    assert.equal(allocatePodIp('10.244.1.0/24', new Set()), '10.244.1.2');
    assert.equal(allocatePodIp('10.244.1.0/24', new Set(['10.244.1.2', '10.244.1.3'])), '10.244.1.4');
  });
  it('keeps the preferred (previous) IP when it is free and inside the cidr', () => {
    assert.equal(allocatePodIp('10.244.1.0/24', new Set(), '10.244.1.77'), '10.244.1.77');
    assert.equal(allocatePodIp('10.244.1.0/24', new Set(['10.244.1.77']), '10.244.1.77'), '10.244.1.2');
    assert.equal(allocatePodIp('10.244.1.0/24', new Set(), '10.244.2.77'), '10.244.1.2');
    assert.equal(allocatePodIp('10.244.1.0/24', new Set(), '10.244.1.1'), '10.244.1.2');
  });
  it('returns undefined when the /24 is exhausted', () => {
    const used = new Set(Array.from({ length: 253 }, (_, i) => `10.244.1.${i + 2}`));
    assert.equal(allocatePodIp('10.244.1.0/24', used), undefined);
  });
  it('rejects a cidr it cannot allocate from', () => {
    assert.throws(() => allocatePodIp('10.244.0.0/16', new Set()), /unsupported pod cidr '10.244.0.0\/16'/);
  });
});

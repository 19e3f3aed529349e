import assert from 'node:assert/strict';
describe('smoke', () => {
  it('runs on the pinned node', () => {
    assert.match(process.version, /^v24\./);
  });
});

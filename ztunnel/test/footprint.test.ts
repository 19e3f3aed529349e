// What ztunnel loads decides its idle memory, once per node.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

describe('ztunnel footprint', () => {
  it("loading ztunnel does not load Node's internal undici (an ESM import of node:http would: about 3 MiB of heap)", () => {
    const app = join(import.meta.dirname, '../src/app.ts');
    const script = `import(${JSON.stringify(app)}).then(() => console.log(JSON.stringify(process.moduleLoadList.filter((m) => m.includes('undici')))))`;
    const loaded = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 }));
    assert.deepEqual(loaded, []);
  });
});

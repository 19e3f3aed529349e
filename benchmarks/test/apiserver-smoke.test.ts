// A short run of the API server benchmark: it must deliver every watch event it expects.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

describe('apiserver list/watch benchmark (smoke)', () => {
  it('delivers every patch to every watcher at small scale and prints its table', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(import.meta.dirname, '../src/apiserver-list-watch.ts'), '--pods', '300', '--watchers', '5', '--updates', '60'],
      { timeout: 60_000, encoding: 'utf8' },
    );
    assert.match(stdout, /watch events delivered\s+300\/300 /);
    assert.match(stdout, /list 300 pods/);
  });
});

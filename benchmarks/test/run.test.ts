// `npm run bench -- NAME... [OPTIONS]`: which benchmarks run, and what each is handed.
import assert from 'node:assert/strict';
import { splitBenchArgs } from '../src/run.ts';

describe('npm run bench arguments', () => {
  it('an option value written after a space is handed to the benchmark, not taken for a benchmark name', () => {
    // The savings benchmark's documented form: `npm run bench -- savings --pods 24,48 --seconds 20`.
    assert.deepEqual(splitBenchArgs(['savings', '--pods', '144', '--modes', 'ambient-l4']), {
      names: ['savings'],
      args: ['--pods', '144', '--modes', 'ambient-l4'],
    });
  });

  it('several names before the first option; none means all', () => {
    assert.deepEqual(splitBenchArgs(['ztunnel', 'hbone', '--mib=16']), { names: ['ztunnel', 'hbone'], args: ['--mib=16'] });
    assert.deepEqual(splitBenchArgs([]), { names: [], args: [] });
    assert.deepEqual(splitBenchArgs(['--seconds', '5']), { names: [], args: ['--seconds', '5'] });
  });
});

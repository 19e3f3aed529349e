import assert from 'node:assert/strict';
import { paletteFor, render, table } from '../src/output.ts';

describe('output', () => {
  it('lays out a table as kubectl does: upper-case headers, three spaces, no trailing blanks', () => {
    assert.equal(
      table(
        ['NAME', 'READY'],
        [
          ['web', '1/1'],
          ['database-0', '0/1'],
        ],
      ),
      'NAME         READY\nweb          1/1\ndatabase-0   0/1\n',
    );
    assert.equal(table(['NAME'], []), 'No resources found.\n');
  });

  it('renders the same rows as JSON or YAML, and "-" for a missing cell', () => {
    const rows = [{ name: 'a', vip: undefined }];
    const columns = [
      { header: 'name', value: (r: (typeof rows)[0]) => r.name },
      { header: 'service vip', value: (r: (typeof rows)[0]) => r.vip },
    ];
    assert.equal(render(rows, columns, 'table'), 'NAME   SERVICE VIP\na      -\n');
    assert.deepEqual(JSON.parse(render(rows, columns, 'json')), [{ name: 'a' }]);
    assert.equal(render([{ name: 'a' }], columns as never, 'yaml'), '- name: a\n');
  });

  it('colours only a terminal, and never with NO_COLOR set', () => {
    assert.equal(paletteFor({ isTTY: true }, {}).ok('✔'), '\u001b[32m✔\u001b[0m');
    assert.equal(paletteFor({ isTTY: true }, { NO_COLOR: '1' }).ok('✔'), '✔');
    assert.equal(paletteFor({ isTTY: false }, {}).bad('✘'), '✘');
    // Escape codes take no columns: a coloured cell pads like a plain one.
    const coloured = paletteFor({ isTTY: true }, {}).ok('yes');
    assert.equal(table(['A', 'B'], [[coloured, 'x']]), `A     B\n${coloured}   x\n`);
  });
});

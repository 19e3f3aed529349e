// The project's own lint rules (scripts/lint/*.grit, run by `biome check` in npm test) catch
// what they are for, and leave correct code alone: run against probe files in a scratch copy
// of the configuration.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');

function lint(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'lint-rules-'));
  try {
    // biome.jsonc without its comments, and without git (the scratch directory is no repository).
    const config = JSON.parse(readFileSync(join(root, 'biome.jsonc'), 'utf8').replace(/^\s*\/\/.*$/gm, '')) as { vcs: unknown; $schema?: string };
    config.vcs = { enabled: false };
    delete config.$schema;
    writeFileSync(join(dir, 'biome.json'), JSON.stringify(config));
    cpSync(join(root, 'scripts/lint'), join(dir, 'scripts/lint'), { recursive: true });
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    const r = spawnSync(join(root, 'node_modules/.bin/biome'), ['lint', '--max-diagnostics=100', '.'], { cwd: dir, encoding: 'utf8' });
    return `${r.stdout}${r.stderr}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const pluginHits = (out: string): string[] => [...out.matchAll(/^(\S+\.ts:\d+):\d+ plugin/gm)].map((m) => m[1]!).sort();

describe('project lint rules', () => {
  it('flag String(err) and err.message in a log call, and an error class that bypasses MeshError', () => {
    const out = lint({
      'ztunnel/src/bad.ts': [
        'const log = { warn: (_o: object, _m: string): void => {} };',
        "const err = new Error('x');",
        "log.warn({ err: String(err) }, 'x');",
        "log.warn({ err: err.message }, 'x');",
        'export class Oops extends Error {}',
        '',
      ].join('\n'),
    });
    assert.deepEqual(pluginHits(out), ['ztunnel/src/bad.ts:3', 'ztunnel/src/bad.ts:4', 'ztunnel/src/bad.ts:5'], out);
  });

  it('leave the error object logged as it is, and MeshError subclasses, alone', () => {
    const out = lint({
      'ztunnel/src/good.ts': [
        "import { MeshError } from '@ambient/api';",
        'const log = { warn: (_o: object, _m: string): void => {} };',
        "log.warn({ err: new Error('x') }, 'x');",
        "export class Fine extends MeshError<'ERR_FINE'> {}",
        '',
      ].join('\n'),
    });
    assert.deepEqual(pluginHits(out), [], out);
  });
});

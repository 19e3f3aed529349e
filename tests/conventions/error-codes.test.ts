// Every error code the mesh's code raises is documented in the README of the workspace that
// raises it, and every code a README documents exists in that workspace's code: users grep
// logs for these codes, and a stale or missing entry sends them nowhere.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
// `tests/` is test code throughout: it raises no codes of its own.
const workspaces = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces.filter((ws) => ws !== 'tests');
// Codes are ERR_* (quoted in code, back-quoted in READMEs). Node's own codes that our code
// compares against are not ours to document.
const codeRe = /'(ERR_[A-Z0-9_]+)'/g;
const docRe = /`(ERR_[A-Z0-9_]+)`/g;
const nodeCode = /^ERR_(HTTP2|STREAM|TLS|SSL|OSSL|INVALID_ARG|SOCKET_(BAD|CLOSED|CONNECTION|DGRAM)|ABORT|UNHANDLED|USE_AFTER_CLOSE)/;

/** A workspace's own code: its .ts files outside tests and dependencies. */
function sources(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir)) {
    if (e === 'node_modules' || e === 'test' || e.startsWith('.')) continue;
    const p = join(dir, e);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

const matches = (text: string, re: RegExp): Set<string> => new Set([...text.matchAll(re)].map((m) => m[1]!).filter((c) => !nodeCode.test(c)));
const inCode = new Map(
  workspaces.map((ws) => [
    ws,
    matches(
      sources(join(root, ws))
        .map((f) => readFileSync(f, 'utf8'))
        .join('\n'),
      codeRe,
    ),
  ]),
);
const inDocs = new Map(
  workspaces.map((ws) => {
    const readme = join(root, ws, 'README.md');
    return [ws, existsSync(readme) ? matches(readFileSync(readme, 'utf8'), docRe) : new Set<string>()];
  }),
);

describe('error codes are documented where they are raised', () => {
  for (const ws of workspaces) {
    it(`${ws}: every code in its code is in its README (or in the README of the workspace it comes from), and vice versa`, () => {
      // A code used here but raised by a dependency (ztunnel checking an hbone code) is
      // documented there: it appears in that workspace's code and README.
      const undocumented = [...inCode.get(ws)!].filter(
        (c) => !inDocs.get(ws)!.has(c) && !workspaces.some((o) => o !== ws && inCode.get(o)!.has(c) && inDocs.get(o)!.has(c)),
      );
      const stale = [...inDocs.get(ws)!].filter((c) => !inCode.get(ws)!.has(c));
      assert.deepEqual({ undocumented, stale }, { undocumented: [], stale: [] }, `${ws}/README.md`);
    });
  }
});

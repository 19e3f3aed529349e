// Which sources a workspace's dist/ was built from: each component build (`npm run build`) ends
// by writing the digest of its src/*.ts into dist/, and the local cluster compares it with the
// sources as they are before it runs dist/. Contents, not mtimes: a git checkout touches files it
// does not change, and turbo, finding its cache valid, then leaves dist/ (and its mtimes) alone.
//
//   node local-cluster/src/source-digest.ts <workspace dir>   writes <dir>/dist/source-digest.txt
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

export const sourceDigestFile = 'source-digest.txt';

/** sha256 over every src/**.ts of the workspace (path and content, in path order). */
export function sourceDigest(workspaceDir: string): string {
  const src = join(workspaceDir, 'src');
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) files.push(p);
    }
  };
  walk(src);
  const hash = createHash('sha256');
  for (const f of files.sort())
    hash
      .update(`${relative(src, f)}\0`)
      .update(readFileSync(f))
      .update('\0');
  return hash.digest('hex');
}

export function writeSourceDigest(workspaceDir: string): void {
  writeFileSync(join(workspaceDir, 'dist', sourceDigestFile), `${sourceDigest(workspaceDir)}\n`);
}

if (import.meta.main) writeSourceDigest(resolve(process.argv[2] ?? '.'));

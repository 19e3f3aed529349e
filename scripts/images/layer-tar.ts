// A layer archive from a directory, with GNU tar, the same bytes on every run: entries in name
// order, every mtime the source date, owner and group 0 by number, no atime/ctime/PID in the
// POSIX extended headers, no ACLs or xattrs. umoci compresses it (deterministically) as it adds it.
import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { ImageBuildError } from './image-build-error.ts';

export type LayerTarOptions = {
  sourceDateEpoch: number;
  /** Only these paths (relative, sorted, parents included), not the whole tree. */
  paths?: string[];
  /** Make every file readable and no file group/world-writable (the app layers, read by a non-root user). */
  normalizeModes?: boolean;
};

export function layerTar(dir: string, tarFile: string, opts: LayerTarOptions): void {
  const common = [
    '--create',
    `--file=${tarFile}`,
    `--directory=${dir}`,
    '--format=posix',
    '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
    `--mtime=@${opts.sourceDateEpoch}`,
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '--no-acls',
    '--no-xattrs',
    '--no-selinux',
    ...(opts.normalizeModes ? ['--mode=a+rX,go-w'] : []),
  ];
  let args: string[];
  if (opts.paths) {
    const list = `${tarFile}.list`;
    writeFileSync(list, opts.paths.map((p) => `${p}\n`).join(''));
    args = [...common, '--no-recursion', '--verbatim-files-from', `--files-from=${list}`];
  } else {
    // The top-level names in order, then tar sorts each directory's entries itself (no "./" prefix).
    args = [...common, '--sort=name', '--', ...readdirSync(dir).sort()];
  }
  const r = spawnSync('tar', args, { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  if (r.status !== 0) throw new ImageBuildError('ERR_IMAGES_COMMAND_FAILED', `tar of ${dir} into ${tarFile} failed: ${r.error?.message ?? r.stderr.trim()}`);
}

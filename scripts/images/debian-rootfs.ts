// The Debian part of the images: mmdebstrap (Debian's daemonless bootstrapper) extracts the
// packages an image needs, with their dependencies, into a directory; nothing is configured and
// no maintainer script runs (`--variant=extract`), so the result holds only package files. This
// module then records what was installed the way distroless images do (one control stanza per
// package under /var/lib/dpkg/status.d/, which SBOM and vulnerability scanners read), drops what
// a container never reads (manuals, apt's and dpkg's state, /dev nodes), and adds the few files
// a maintainer script would have made.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, type Stats, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ImageBuildError } from './image-build-error.ts';

export type DebianPackage = { name: string; version: string; architecture: string; source: string | undefined; homepage: string | undefined };

export type DebianRoot = { dir: string; packages: DebianPackage[] };

export const debianSuite = 'bookworm';

/** The archive, with its security and stable updates: the images get today's fixes. */
export const defaultAptSources = [
  'deb http://deb.debian.org/debian bookworm main',
  'deb http://deb.debian.org/debian bookworm-updates main',
  'deb http://deb.debian.org/debian-security bookworm-security main',
];

/** `AMBIENT_IMAGES_APT_SOURCES` (one-line sources separated by `|`), e.g. a snapshot.debian.org date. */
export function aptSources(env: NodeJS.ProcessEnv = process.env): string[] {
  const custom = (env.AMBIENT_IMAGES_APT_SOURCES ?? '')
    .split('|')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  return custom.length > 0 ? custom : defaultAptSources;
}

export type DebianRootOptions = {
  dir: string;
  /** Installed with their dependencies. */
  include: string[];
  /** Downloaded and extracted without their dependencies (see runtimeDataPackages). */
  dataOnly: string[];
  sources: string[];
  sourceDateEpoch: number;
};

// Bookworm is merged-/usr: /bin, /sbin, /lib, /lib64 are links into /usr, made before
// extraction so the packages' files land in /usr (as debootstrap does; mmdebstrap's own
// merged-usr hook would also register a dummy package with dpkg).
const mergedUsrHook = 'for d in bin sbin lib lib64; do ln -s "usr/$d" "$1/$d"; mkdir -p "$1/usr/$d"; done';

function dataOnlyHook(packages: string[]): string {
  const names = packages.join(' ');
  return [
    'set -e',
    'cd "$1/var/cache/apt/archives"',
    `APT_CONFIG="$MMDEBSTRAP_APT_CONFIG" apt-get download -q=2 -o APT::Sandbox::User=root ${names}`,
    `for p in ${names}; do dpkg-deb --fsys-tarfile "$p"_*.deb | tar -C "$1" --keep-directory-symlink -x; done`,
  ].join('\n');
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', (err) => reject(new ImageBuildError('ERR_IMAGES_COMMAND_FAILED', `${command} did not start`, { cause: err })));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else
        reject(
          new ImageBuildError(
            'ERR_IMAGES_COMMAND_FAILED',
            `${command} ${args.map((a) => (a.includes(' ') || a.includes('\n') ? JSON.stringify(a) : a)).join(' ')} exited with ${code}: ${output.trim().split('\n').slice(-15).join('\n')}`,
          ),
        );
    });
  });
}

/** One control field of a `dpkg-deb --field` stanza. */
function field(stanza: string, name: string): string | undefined {
  return new RegExp(`^${name}: (.*)$`, 'm').exec(stanza)?.[1]?.trim();
}

function readStanza(deb: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('dpkg-deb', ['--field', deb], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new ImageBuildError('ERR_IMAGES_COMMAND_FAILED', `dpkg-deb --field ${deb} exited with ${code}`)),
    );
  });
}

/** Removes `rel` under `root` (files or whole trees), if present. */
function remove(root: string, ...rels: string[]): void {
  for (const rel of rels) rmSync(join(root, rel), { recursive: true, force: true });
}

/** Manuals, info pages, translations and changelogs go; each package's copyright stays. */
function pruneDocs(root: string): void {
  remove(root, 'usr/share/man', 'usr/share/info', 'usr/share/locale', 'usr/share/lintian', 'usr/share/bug', 'usr/share/doc-base', 'usr/share/bash-completion');
  const docs = join(root, 'usr/share/doc');
  if (!existsSync(docs)) return;
  for (const pkg of readdirSync(docs)) {
    const dir = join(docs, pkg);
    if (lstatSync(dir).isSymbolicLink() || !lstatSync(dir).isDirectory()) continue;
    for (const f of readdirSync(dir)) if (f !== 'copyright') rmSync(join(dir, f), { recursive: true, force: true });
  }
}

/**
 * Extracts `include` (with dependencies) and `dataOnly` (without) into `dir`, then tidies it as
 * described at the top. Returns the packages, sorted by name.
 */
export async function buildDebianRoot(opts: DebianRootOptions): Promise<DebianRoot> {
  rmSync(opts.dir, { recursive: true, force: true });
  mkdirSync(dirname(opts.dir), { recursive: true });
  const args = [
    '--variant=extract',
    `--include=${opts.include.join(',')}`,
    '--skip=cleanup/apt/cache',
    `--setup-hook=${mergedUsrHook}`,
    ...(opts.dataOnly.length > 0 ? [`--extract-hook=${dataOnlyHook(opts.dataOnly)}`] : []),
    '--format=directory',
    debianSuite,
    opts.dir,
    ...opts.sources,
  ];
  try {
    await run('mmdebstrap', args, { ...process.env, SOURCE_DATE_EPOCH: String(opts.sourceDateEpoch), LC_ALL: 'C.UTF-8' });
  } catch (err) {
    const hint = `mmdebstrap downloads from ${[...new Set(opts.sources.map((s) => s.split(' ')[1]))].join(', ')} (AMBIENT_IMAGES_APT_SOURCES picks others)`;
    throw new ImageBuildError('ERR_IMAGES_COMMAND_FAILED', `${(err as Error).message}\n${hint}`, { cause: err });
  }

  const archives = join(opts.dir, 'var/cache/apt/archives');
  const debs = readdirSync(archives)
    .filter((f) => f.endsWith('.deb'))
    .sort();
  const stanzas = await Promise.all(debs.map((deb) => readStanza(join(archives, deb))));
  const packages = stanzas
    .map(
      (s): DebianPackage => ({
        name: field(s, 'Package')!,
        version: field(s, 'Version')!,
        architecture: field(s, 'Architecture')!,
        source: field(s, 'Source')?.split(' ')[0],
        homepage: field(s, 'Homepage'),
      }),
    )
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  // apt's and dpkg's working state, and what mmdebstrap generated for a chroot rather than an image.
  remove(opts.dir, 'var/cache/apt', 'var/lib/apt', 'var/log/apt', 'var/lib/dpkg', 'etc/apt', 'etc/hostname', 'etc/resolv.conf', 'etc/fstab');
  for (const node of readdirSync(join(opts.dir, 'dev'))) remove(opts.dir, join('dev', node));
  pruneDocs(opts.dir);
  const statusDir = join(opts.dir, 'var/lib/dpkg/status.d');
  mkdirSync(statusDir, { recursive: true });
  stanzas.forEach((s) => {
    writeFileSync(join(statusDir, field(s, 'Package')!), `${s.trimEnd()}\n`);
  });
  chmodSync(join(opts.dir, 'tmp'), 0o1777);
  return { dir: opts.dir, packages };
}

/** What update-ca-certificates would write: every Mozilla root, in file-name order. */
export function writeCaBundle(root: string): void {
  const mozilla = join(root, 'usr/share/ca-certificates/mozilla');
  const certs = readdirSync(mozilla)
    .filter((f) => f.endsWith('.crt'))
    .sort();
  mkdirSync(join(root, 'etc/ssl/certs'), { recursive: true });
  writeFileSync(join(root, 'etc/ssl/certs/ca-certificates.crt'), certs.map((f) => readFileSync(join(mozilla, f), 'utf8').trimEnd()).join('\n') + '\n');
}

/** /etc/passwd, /etc/group (root, the non-root user, nobody) and a files-first nsswitch.conf. */
export function writeUsers(root: string, nonRootId: number): void {
  writeFileSync(
    join(root, 'etc/passwd'),
    [
      'root:x:0:0:root:/root:/usr/sbin/nologin',
      `nonroot:x:${nonRootId}:${nonRootId}:nonroot:/nonexistent:/usr/sbin/nologin`,
      'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
      '',
    ].join('\n'),
  );
  writeFileSync(join(root, 'etc/group'), ['root:x:0:', `nonroot:x:${nonRootId}:`, 'nogroup:x:65534:', ''].join('\n'));
  // Kubernetes writes /etc/hosts; look there before DNS (glibc's default is DNS first).
  writeFileSync(
    join(root, 'etc/nsswitch.conf'),
    ['passwd: files', 'group: files', 'shadow: files', 'hosts: files dns', 'networks: files', 'protocols: files', 'services: files', ''].join('\n'),
  );
}

/** `name` -> `<name with -nft>` in /usr/sbin, as update-alternatives would link them. */
export function linkIptablesNft(root: string, names: string[]): void {
  for (const name of names) {
    const target = name.replace(/^(ip6?tables)/, '$1-nft');
    if (!existsSync(join(root, 'usr/sbin', target)))
      throw new ImageBuildError('ERR_IMAGES_CONTENT_MISSING', `the iptables package has no /usr/sbin/${target} to link ${name} to`);
    rmSync(join(root, 'usr/sbin', name), { force: true });
    symlinkSync(target, join(root, 'usr/sbin', name));
  }
}

/** Whether `rel` is the same entry (type, mode, content or link target) under both roots. */
function sameEntry(a: string, b: string): boolean {
  const sa = lstatSync(a);
  const sb = lstatSafe(b);
  if (!sb || (sa.mode & 0o177777) !== (sb.mode & 0o177777) || sa.uid !== sb.uid || sa.gid !== sb.gid) return false;
  if (sa.isSymbolicLink()) return readlinkSync(a) === readlinkSync(b);
  if (sa.isDirectory()) return true;
  return sa.size === sb.size && readFileSync(a).equals(readFileSync(b));
}

function lstatSafe(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

/**
 * The entries of `upper` that `lower` lacks or has differently, as repository-style relative
 * paths (sorted), plus their parent directories: what a layer on top of `lower` must carry to
 * give `upper`. Nothing of `lower` is removed (a layer of additions only).
 */
export function rootDifference(lower: string, upper: string): string[] {
  const out = new Set<string>();
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(upper, rel))) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const u = join(upper, r);
      const st = lstatSync(u);
      if (!sameEntry(u, join(lower, r))) {
        out.add(r);
        for (let p = dirname(r); p !== '.'; p = dirname(p)) out.add(p);
      }
      if (st.isDirectory() && !st.isSymbolicLink()) walk(r);
    }
  };
  walk('');
  return [...out].sort();
}

/** Packages both roots have must be the same version (both runs read the same archive state). */
export function assertSameVersions(a: DebianRoot, b: DebianRoot): void {
  const versions = new Map(a.packages.map((p) => [p.name, p.version]));
  const differing = b.packages.filter((p) => versions.has(p.name) && versions.get(p.name) !== p.version);
  if (differing.length > 0)
    throw new ImageBuildError(
      'ERR_IMAGES_DEBIAN_MISMATCH',
      `the Debian archive changed between the two mmdebstrap runs (${differing.map((p) => `${p.name} ${versions.get(p.name)} vs ${p.version}`).join(', ')}); build again`,
    );
}

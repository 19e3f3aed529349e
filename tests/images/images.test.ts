// `npm run images` (scripts/images/build.ts) end to end: it builds the four images into a
// scratch directory, and each must be a valid OCI image layout (every blob matching its
// descriptor, diff_ids matching the uncompressed layers), run as the user and the command the
// Kubernetes manifests expect, hold what its component runs (node, the addon, nsenter, iptables,
// ip, the CNI plugin), carry an SPDX SBOM inside and attached, share its base layers with the
// others, and come out the same when built again. Then each image's root file system, unpacked,
// runs its component in a chroot as the image's user, up to flag parsing (every module loaded).
// Needs root (chroot) and the build's Debian tools (mmdebstrap, umoci, binutils).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { loadAll } from 'js-yaml';

const repo = resolve(import.meta.dirname, '../..');
const builder = join(repo, 'scripts/images/build.ts');
const tag = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version?: string }).version ?? '0.1.0';

type Descriptor = { mediaType: string; digest: string; size: number; artifactType?: string; annotations?: Record<string, string>; platform?: object };
type Manifest = {
  schemaVersion: number;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
};
type ImageConfig = {
  created: string;
  architecture: string;
  os: string;
  config: { User?: string; Entrypoint?: string[]; WorkingDir?: string; Env?: string[]; Labels?: Record<string, string> };
  rootfs: { type: string; diff_ids: string[] };
  history: { created: string; created_by: string }[];
};
type Image = { name: string; layout: string; manifestDescriptor: Descriptor; manifest: Manifest; config: ImageConfig; rootfs: string };

const manifestType = 'application/vnd.oci.image.manifest.v1+json';
const names = ['istiod-lite', 'ztunnel', 'waypoint', 'cni'];

function build(out: string, only?: string): string {
  const r = spawnSync(process.execPath, [builder, '--out', out, ...(only ? ['--only', only] : [])], { encoding: 'utf8' });
  assert.equal(r.status, 0, `build.ts failed:\n${r.stderr}`);
  return r.stdout;
}

const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** The blob a descriptor names, after checking its digest and size. */
function blob(layout: string, d: Descriptor): Buffer {
  const file = join(layout, 'blobs', ...d.digest.split(':'));
  assert.ok(existsSync(file), `${layout}: blob ${d.digest} (${d.mediaType}) is missing`);
  const data = readFileSync(file);
  assert.equal(data.length, d.size, `${layout}: blob ${d.digest} has ${data.length} bytes, its descriptor says ${d.size}`);
  assert.equal(sha256(data), d.digest, `${layout}: blob ${d.digest} does not hash to its name`);
  return data;
}

function run(command: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 30_000, env: { ...process.env, TZ: 'UTC' } });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** The container specs in deploy/ that use `image`, by file. */
function manifestContainers(image: string): { command?: string[]; file: string }[] {
  const files = ['deploy/istiod-lite/deployment.yaml', 'deploy/daemonset/ztunnel.yaml', 'deploy/daemonset/istio-cni-node.yaml'];
  const found: { command?: string[]; file: string }[] = [];
  for (const file of files) {
    if (!existsSync(join(repo, file))) continue;
    for (const doc of loadAll(readFileSync(join(repo, file), 'utf8')) as any[]) {
      const pod = doc?.spec?.template?.spec;
      for (const c of [...(pod?.containers ?? []), ...(pod?.initContainers ?? [])]) if (c.image === image) found.push({ command: c.command, file });
    }
  }
  return found;
}

describe('npm run images: OCI images without a container engine', function () {
  this.timeout(600_000);
  let out = '';
  const images = new Map<string, Image>();
  let printed = '';

  before(() => {
    out = mkdtempSync(join(tmpdir(), 'images-'));
    printed = build(join(out, 'first'));
    for (const name of names) {
      const layout = join(out, 'first', name);
      const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
      const manifestDescriptor = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag)!;
      assert.ok(manifestDescriptor, `${name}: index.json has no manifest tagged ${tag}`);
      const manifest = JSON.parse(blob(layout, manifestDescriptor).toString()) as Manifest;
      const config = JSON.parse(blob(layout, manifest.config).toString()) as ImageConfig;
      // The root file system as a runtime sees it: the layers extracted in order.
      const rootfs = join(out, 'rootfs', name);
      mkdirSync(rootfs, { recursive: true });
      for (const layer of manifest.layers) {
        const r = run('tar', ['--extract', '--gzip', `--file=${join(layout, 'blobs', ...layer.digest.split(':'))}`, `--directory=${rootfs}`]);
        assert.equal(r.status, 0, r.out);
      }
      images.set(name, { name, layout, manifestDescriptor, manifest, config, rootfs });
    }
  });
  after(() => {
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it('prints each image with its manifest digest and compressed size', () => {
    for (const image of images.values()) {
      const line = printed.split('\n').find((l) => l.startsWith(`ambient/${image.name}:${tag} `));
      assert.ok(line, `no line for ambient/${image.name}:${tag} in:\n${printed}`);
      assert.ok(line.includes(image.manifestDescriptor.digest), line);
      const size = image.manifestDescriptor.size + image.manifest.config.size + image.manifest.layers.reduce((n, l) => n + l.size, 0);
      assert.ok(line.includes(`${(size / 1048576).toFixed(1)} MiB`), `${line}: expected ${size} bytes`);
    }
  });

  it('writes OCI image layouts: media types, and every blob matching its descriptor and diff_id', () => {
    const diffIds = new Map<string, string>();
    for (const image of images.values()) {
      const { layout, manifest, config } = image;
      assert.deepEqual(JSON.parse(readFileSync(join(layout, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
      const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { schemaVersion: number; manifests: Descriptor[] };
      assert.equal(index.schemaVersion, 2);
      for (const d of index.manifests) {
        assert.equal(d.mediaType, manifestType);
        blob(layout, d);
      }
      assert.equal(manifest.schemaVersion, 2);
      if (manifest.mediaType !== undefined) assert.equal(manifest.mediaType, manifestType);
      assert.equal(manifest.config.mediaType, 'application/vnd.oci.image.config.v1+json');
      assert.equal(config.architecture, 'amd64');
      assert.equal(config.os, 'linux');
      assert.equal(config.rootfs.type, 'layers');
      assert.equal(config.rootfs.diff_ids.length, manifest.layers.length);
      assert.equal(config.history.length, manifest.layers.length);
      manifest.layers.forEach((layer, i) => {
        assert.equal(layer.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
        const diffId = diffIds.get(layer.digest) ?? sha256(gunzipSync(blob(layout, layer)));
        diffIds.set(layer.digest, diffId);
        assert.equal(config.rootfs.diff_ids[i], diffId, `${image.name}: layer ${i} (${layer.digest}) uncompresses to ${diffId}, not its diff_id`);
      });
      // Fixed timestamps, the source and version labelled.
      const created = config.created;
      assert.match(created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.ok(config.history.every((h) => h.created === created));
      assert.equal(config.config.Labels?.['org.opencontainers.image.created'], created);
      assert.equal(config.config.Labels?.['org.opencontainers.image.version'], tag);
      assert.equal(manifest.annotations?.['org.opencontainers.image.created'], created);
      // No file in any layer is newer or older than the build's source date.
      const listing = run('tar', [
        '--list',
        '--verbose',
        '--full-time',
        '--numeric-owner',
        '--gzip',
        `--file=${join(layout, 'blobs', ...manifest.layers.at(-1)!.digest.split(':'))}`,
      ]);
      assert.equal(listing.status, 0, listing.out);
      const stamp = created.replace('T', ' ').replace('Z', '');
      for (const entry of listing.out.trim().split('\n')) assert.ok(entry.includes(` 0/0 `) && entry.includes(stamp), `${image.name}: ${entry}`);
    }
  });

  it('runs istiod-lite and the waypoint as 65532, ztunnel and the node agent as root (they change network namespaces)', () => {
    assert.equal(images.get('istiod-lite')!.config.config.User, '65532:65532');
    assert.equal(images.get('waypoint')!.config.config.User, '65532:65532');
    assert.equal(images.get('ztunnel')!.config.config.User, '0:0');
    assert.equal(images.get('cni')!.config.config.User, '0:0');
    const passwd = readFileSync(join(images.get('istiod-lite')!.rootfs, 'etc/passwd'), 'utf8');
    assert.match(passwd, /^nonroot:x:65532:65532:/m);
  });

  it('has the entrypoint the Kubernetes manifests run, from /app', () => {
    for (const name of ['istiod-lite', 'ztunnel', 'cni']) {
      const { config } = images.get(name)!;
      assert.equal(config.config.WorkingDir, '/app');
      const containers = manifestContainers(`ambient/${name}:${tag}`);
      assert.ok(containers.length > 0, `no manifest in deploy/ runs ambient/${name}:${tag}`);
      for (const c of containers)
        assert.deepEqual(config.config.Entrypoint, c.command, `${name}: the image's entrypoint differs from the command in ${c.file}`);
    }
    // istiod-lite's waypoint Deployment: image ambient/waypoint:local, command [ambient-waypoint].
    assert.deepEqual(images.get('waypoint')!.config.config.Entrypoint, ['ambient-waypoint']);
    const index = JSON.parse(readFileSync(join(images.get('waypoint')!.layout, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
    const local = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'local');
    assert.equal(local?.digest, images.get('waypoint')!.manifestDescriptor.digest);
  });

  it('holds what each component runs: its dist/, node, the addon, nsenter, iptables, nft, ip and the CNI plugin', () => {
    const expected: Record<string, string[]> = {
      'istiod-lite': ['app/istiod-lite/dist/main.js', 'app/api/dist/index.js', 'app/api/proto', 'app/deploy/crds'],
      ztunnel: [
        'app/ztunnel/dist/main.js',
        'app/hbone/dist/index.js',
        'app/ztunnel/native/build/Release/ztunnel_native.node',
        'usr/bin/nsenter',
        'usr/sbin/iptables-save',
        'usr/sbin/iptables-restore',
        'usr/sbin/nft',
      ],
      waypoint: ['app/waypoint/dist/main.js', 'app/hbone/dist/index.js', 'usr/local/bin/ambient-waypoint'],
      cni: ['app/cni/dist/main.js', 'app/cni/dist/bin/ambient-cni', 'usr/bin/nsenter', 'usr/bin/ip'],
    };
    for (const [name, paths] of Object.entries(expected)) {
      const { rootfs } = images.get(name)!;
      for (const p of ['usr/local/bin/node', 'etc/ssl/certs/ca-certificates.crt', 'etc/os-release', 'app/node_modules/@grpc/grpc-js/package.json', ...paths])
        assert.ok(existsSync(join(rootfs, p)), `${name}: /${p} is missing`);
      assert.equal(readlinkSync(join(rootfs, 'app/node_modules/@ambient/api')), '../../api');
      // Only run-time files: no TypeScript sources, and none of the build-only packages.
      assert.ok(!existsSync(join(rootfs, 'app', name, 'src')), `${name}: /app/${name}/src is in the image`);
    }
    for (const p of ['app/node_modules/node-gyp', 'app/node_modules/node-addon-api', 'app/node_modules/mocha', 'app/node_modules/typescript'])
      assert.ok(!existsSync(join(images.get('ztunnel')!.rootfs, p)), `ztunnel: /${p} is in the image`);
    assert.ok(statSync(join(images.get('cni')!.rootfs, 'app/cni/dist/bin/ambient-cni')).mode & 0o111, 'ambient-cni is not executable');
    assert.ok(!existsSync(join(images.get('istiod-lite')!.rootfs, 'usr/bin/nsenter')), 'istiod-lite carries the network tools');
  });

  it('shares the Debian and Node layers between the images, and the network tools between ztunnel and the node agent', () => {
    const layers = (name: string): string[] => images.get(name)!.manifest.layers.map((l) => l.digest);
    for (const name of names) assert.deepEqual(layers(name).slice(0, 2), layers('istiod-lite').slice(0, 2), name);
    assert.equal(layers('ztunnel')[2], layers('cni')[2]);
    assert.equal(layers('istiod-lite').length, 4);
    assert.equal(layers('ztunnel').length, 5);
  });

  it('carries an SPDX SBOM in the image and attached to it, listing its npm and Debian packages', () => {
    for (const image of images.values()) {
      const inImage = readFileSync(join(image.rootfs, 'usr/share/sbom', `${image.name}.spdx.json`));
      const index = JSON.parse(readFileSync(join(image.layout, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
      const artifacts = index.manifests.filter((m) => m.artifactType === 'application/spdx+json');
      assert.equal(artifacts.length, 1, `${image.name}: index.json lists ${artifacts.length} SBOM artifacts`);
      const artifact = JSON.parse(blob(image.layout, artifacts[0]!).toString()) as Manifest;
      assert.equal(artifact.subject?.digest, image.manifestDescriptor.digest);
      assert.equal(artifact.config.mediaType, 'application/vnd.oci.empty.v1+json');
      assert.deepEqual(blob(image.layout, artifact.layers[0]!), inImage);
      assert.deepEqual(readFileSync(join(image.layout, '..', `${image.name}.spdx.json`)), inImage);

      const doc = JSON.parse(inImage.toString()) as {
        spdxVersion: string;
        packages: { name: string; versionInfo: string; licenseDeclared: string; SPDXID: string }[];
        relationships: unknown[];
      };
      assert.equal(doc.spdxVersion, 'SPDX-2.3');
      const pkg = (n: string) => doc.packages.find((p) => p.name === n);
      assert.equal(pkg('libc6')?.licenseDeclared, 'NOASSERTION');
      assert.ok(pkg('libc6')?.versionInfo.startsWith('2.36'), `${image.name}: libc6 ${pkg('libc6')?.versionInfo}`);
      assert.equal(pkg('node')?.versionInfo, JSON.parse(readFileSync(join(repo, 'node_modules/node/package.json'), 'utf8')).version);
      assert.equal(pkg('pino')?.versionInfo, JSON.parse(readFileSync(join(repo, 'node_modules/pino/package.json'), 'utf8')).version);
      assert.equal(pkg('pino')?.licenseDeclared, 'MIT');
      assert.ok(pkg('@ambient/api'), `${image.name}: @ambient/api is not in the SBOM`);
      if (image.name === 'ztunnel') {
        const grpc = JSON.parse(readFileSync(join(repo, 'node_modules/@grpc/grpc-js/package.json'), 'utf8'));
        assert.equal(pkg('@grpc/grpc-js')?.versionInfo, grpc.version);
        assert.equal(pkg('iptables')?.licenseDeclared, 'NOASSERTION');
        assert.equal(pkg('node-gyp'), undefined);
      }
      // Every package in /app/node_modules is in the SBOM.
      const nm = join(image.rootfs, 'app/node_modules');
      for (const entry of readdirSync(nm).filter((e) => !e.startsWith('@')))
        assert.ok(pkg(JSON.parse(readFileSync(join(nm, entry, 'package.json'), 'utf8')).name), `${image.name}: ${entry}`);
    }
  });

  it('runs in a chroot as its user: node, the addon and the network tools load, each component gets as far as parsing its flags', () => {
    for (const image of images.values()) {
      const { rootfs, config } = image;
      const user = `--userspec=${config.config.User}`;
      const node = run('chroot', [user, rootfs, '/usr/local/bin/node', '-p', 'process.version + " " + process.getuid()']);
      assert.equal(node.out.trim(), `${process.version} ${config.config.User!.split(':')[0]}`, node.out);
      // The entrypoint, its relative script resolved against the working directory (chroot starts in /).
      const [command, ...args] = config.config.Entrypoint!;
      const argv = [`/usr/local/bin/${command}`, ...args.map((a) => (a.endsWith('.js') ? `${config.config.WorkingDir}/${a}` : a)), '--no-such-flag'];
      const r = run('chroot', [user, rootfs, ...argv]);
      assert.match(r.out, /ERR_PARSE_ARGS_UNKNOWN_OPTION/, `${image.name}: ${argv.join(' ')}:\n${r.out}`);
      assert.equal(r.status, 1);
    }
    const ztunnel = images.get('ztunnel')!.rootfs;
    const addon = run('chroot', [
      ztunnel,
      '/usr/local/bin/node',
      '-p',
      'typeof require("/app/ztunnel/native/build/Release/ztunnel_native.node").listenInNetns',
    ]);
    assert.equal(addon.out.trim(), 'function', addon.out);
    for (const [rootfs, argv, expect] of [
      [ztunnel, ['/usr/bin/nsenter', '--version'], /util-linux/],
      [ztunnel, ['/usr/sbin/iptables-restore', '--version'], /nf_tables/],
      [ztunnel, ['/usr/sbin/iptables-save', '--version'], /nf_tables/],
      [ztunnel, ['/usr/sbin/nft', '--version'], /nftables/],
      [images.get('cni')!.rootfs, ['/usr/bin/ip', '-V'], /iproute2/],
      [images.get('cni')!.rootfs, ['/usr/bin/nsenter', '--version'], /util-linux/],
    ] as const) {
      const r = run('chroot', [rootfs, ...argv]);
      assert.equal(r.status, 0, `${argv.join(' ')}: ${r.out}`);
      assert.match(r.out, expect);
    }
    // Non-root images: nothing under /app is writable by the user, everything readable.
    const app = join(images.get('istiod-lite')!.rootfs, 'app');
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir)) {
        const st = lstatSync(join(dir, e));
        if (st.isSymbolicLink()) continue;
        assert.equal(st.mode & 0o022, 0, `${join(dir, e)} is group/world-writable`);
        assert.ok(st.mode & 0o004, `${join(dir, e)} is not world-readable`);
        if (st.isDirectory()) walk(join(dir, e));
      }
    };
    walk(app);
  });

  it('is reproducible: istiod-lite built again is the same image, byte for byte', () => {
    const again = join(out, 'again');
    build(again, 'istiod-lite');
    const first = images.get('istiod-lite')!;
    const index = JSON.parse(readFileSync(join(again, 'istiod-lite/index.json'), 'utf8')) as { manifests: Descriptor[] };
    assert.equal(index.manifests[0]!.digest, first.manifestDescriptor.digest);
    assert.deepEqual(readdirSync(join(again, 'istiod-lite/blobs/sha256')).sort(), readdirSync(join(first.layout, 'blobs/sha256')).sort());
    assert.deepEqual(readFileSync(join(again, 'istiod-lite/index.json')), readFileSync(join(first.layout, 'index.json')));
  });
});

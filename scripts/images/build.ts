// `npm run images`: OCI image layouts for istiod-lite, ztunnel, the waypoint and the CNI node
// agent under dist/images/<name>/, without a container engine (mmdebstrap for the Debian base,
// GNU tar for the layer archives, umoci for the layouts), the same bytes on every run from the
// same tree and Debian archive state. Prints one line per image: reference, manifest digest,
// compressed size. How and why: scripts/images/README.md.
//
//   node scripts/images/build.ts [--out DIR] [--only NAME[,NAME]] [--tag TAG]
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { checkInputs, checkTools, git, repoRoot, sourceDateEpoch } from './build-inputs.ts';
import {
  aptSources,
  assertSameVersions,
  buildDebianRoot,
  type DebianPackage,
  linkIptablesNft,
  rootDifference,
  writeCaBundle,
  writeUsers,
} from './debian-rootfs.ts';
import { ImageBuildError } from './image-build-error.ts';
import { type ImageSpec, imageSpecs, iptablesAlternatives, networkToolPackages, nonRootId, runtimeDataPackages, runtimePackages } from './image-specs.ts';
import { layerTar } from './layer-tar.ts';
import { type NpmClosure, npmClosure } from './npm-closure.ts';
import {
  addLayer,
  cloneLayout,
  type Descriptor,
  initLayout,
  type LayerArchive,
  readBlob,
  taggedManifest,
  umoci,
  writeArtifact,
  writeIndex,
} from './oci-layout.ts';
import { spdxDocument, spdxMediaType } from './spdx-document.ts';
import { type NodeRuntime, stageApp, stageNode, stageNpm } from './stage-files.ts';

const imagePath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

type BuildOptions = { out: string; only: ImageSpec[]; tag: string };

export type BuiltImage = { spec: ImageSpec; reference: string; manifest: Descriptor; compressedSize: number; layout: string };

/** What every image starts from: the Debian packages and Node, compressed once in `layout`. */
type SharedLayers = {
  layout: string;
  /** The tag in `layout` to build on, with or without the network tools. */
  baseTag: (spec: ImageSpec) => string;
  baseTags: string[];
  debian: DebianPackage[];
  networkTools: DebianPackage[];
  node: NodeRuntime;
};

function parseOptions(argv: string[]): BuildOptions {
  const usage = 'usage: node scripts/images/build.ts [--out DIR] [--only NAME[,NAME]] [--tag TAG]';
  let values: { out?: string; only?: string; tag?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { out: { type: 'string' }, only: { type: 'string' }, tag: { type: 'string' }, help: { type: 'boolean' } },
    }));
  } catch (err) {
    throw new ImageBuildError('ERR_IMAGES_USAGE', `${(err as Error).message}; ${usage}`, { cause: err });
  }
  if (values.help) {
    console.log(`${usage}\nimages: ${imageSpecs.map((s) => s.name).join(', ')}`);
    process.exit(0);
  }
  const names = values.only ? values.only.split(',').map((n) => n.trim()) : imageSpecs.map((s) => s.name);
  const unknown = names.filter((n) => !imageSpecs.some((s) => s.name === n));
  if (unknown.length > 0)
    throw new ImageBuildError('ERR_IMAGES_USAGE', `no image named ${unknown.join(', ')}; the images are ${imageSpecs.map((s) => s.name).join(', ')}`);
  const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version?: string }).version;
  return {
    out: resolve(values.out ?? join(repoRoot, 'dist/images')),
    only: imageSpecs.filter((s) => names.includes(s.name)),
    tag: values.tag ?? version ?? '0.1.0',
  };
}

const log = (msg: string): void => {
  process.stderr.write(`images: ${msg}\n`);
};
const isoSeconds = (epoch: number): string => new Date(epoch * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * The Debian roots (mmdebstrap, from the network: started first) and Node, as layers in a base
 * layout: the runtime (Debian + Node) and, when an image needs them, the network tools on top.
 * Each npm layer is staged while mmdebstrap runs.
 */
async function buildSharedLayers(
  work: string,
  specs: ImageSpec[],
  closures: Map<string, NpmClosure>,
  epoch: number,
  npmTars: Map<string, string>,
): Promise<SharedLayers> {
  const sources = aptSources();
  const withTools = specs.some((s) => s.networkTools);
  const roots = Promise.all([
    buildDebianRoot({ dir: join(work, 'debian-runtime'), include: runtimePackages, dataOnly: runtimeDataPackages, sources, sourceDateEpoch: epoch }),
    withTools
      ? buildDebianRoot({
          dir: join(work, 'debian-tools'),
          include: [...runtimePackages, ...networkToolPackages],
          dataOnly: [],
          sources,
          sourceDateEpoch: epoch,
        })
      : undefined,
  ]);
  roots.catch(() => {}); // awaited below; a throw before then must not leave it unhandled

  const node = stageNode(join(work, 'node'));
  layerTar(join(work, 'node'), join(work, 'node.tar'), { sourceDateEpoch: epoch });
  for (const spec of specs) {
    const dir = join(work, `npm-${spec.name}`);
    stageNpm(closures.get(spec.name)!, dir);
    layerTar(dir, `${dir}.tar`, { sourceDateEpoch: epoch, normalizeModes: true });
    npmTars.set(spec.name, `${dir}.tar`);
  }

  const [runtime, tools] = await roots;
  writeCaBundle(runtime.dir);
  writeUsers(runtime.dir, nonRootId);
  layerTar(runtime.dir, join(work, 'debian-runtime.tar'), { sourceDateEpoch: epoch });
  const created = isoSeconds(epoch);
  const layout = join(work, 'base');
  initLayout(layout, 'empty');
  const runtimeNames = [...runtimePackages, ...runtimeDataPackages].join(' ');
  addLayer(
    layout,
    'empty',
    'debian',
    {
      tar: join(work, 'debian-runtime.tar'),
      createdBy: `mmdebstrap --variant=extract bookworm ${runtimeNames} (${runtime.packages.length} packages)`,
      comment: 'Debian base',
    },
    created,
  );
  addLayer(
    layout,
    'debian',
    'runtime',
    { tar: join(work, 'node.tar'), createdBy: `node ${node.version} (npm ${node.npmPackage}, strip --strip-debug)`, comment: 'Node' },
    created,
  );
  let networkTools: DebianPackage[] = [];
  if (tools) {
    assertSameVersions(runtime, tools);
    linkIptablesNft(tools.dir, iptablesAlternatives);
    // The tools root repeats the runtime's packages: the layer carries only what it adds.
    layerTar(tools.dir, join(work, 'debian-tools.tar'), { sourceDateEpoch: epoch, paths: rootDifference(runtime.dir, tools.dir) });
    const inRuntime = new Set(runtime.packages.map((p) => p.name));
    networkTools = tools.packages.filter((p) => !inRuntime.has(p.name));
    const createdBy = `mmdebstrap --variant=extract bookworm ${networkToolPackages.join(' ')} (${networkTools.length} packages besides the base)`;
    addLayer(layout, 'runtime', 'network-tools', { tar: join(work, 'debian-tools.tar'), createdBy, comment: 'nsenter, iptables-nft, nft, ip' }, created);
  }
  return {
    layout,
    baseTag: (spec) => (spec.networkTools ? 'network-tools' : 'runtime'),
    baseTags: ['empty', 'debian', 'runtime', ...(tools ? ['network-tools'] : [])],
    debian: runtime.packages,
    networkTools,
    node,
  };
}

/** One image's layout: a copy of the base, plus its npm and app layers, its config, the SBOM attached. */
function assembleImage(
  spec: ImageSpec,
  closure: NpmClosure,
  shared: SharedLayers,
  npmTar: string,
  work: string,
  opts: BuildOptions,
  epoch: number,
): BuiltImage {
  const created = isoSeconds(epoch);
  const sbom = Buffer.from(
    `${JSON.stringify(
      spdxDocument({
        repository: spec.repository,
        tag: opts.tag,
        description: spec.description,
        created,
        debianDistro: 'debian-12',
        debian: [...shared.debian, ...(spec.networkTools ? shared.networkTools : [])],
        node: shared.node,
        workspaces: closure.workspaces,
        npm: closure.packages,
      }),
      null,
      2,
    )}\n`,
  );
  const appDir = join(work, `app-${spec.name}`);
  stageApp(spec, closure, appDir, sbom);
  layerTar(appDir, `${appDir}.tar`, { sourceDateEpoch: epoch, normalizeModes: true });

  const layout = join(opts.out, spec.name);
  rmSync(layout, { recursive: true, force: true });
  cloneLayout(shared.layout, layout);
  const npmLayer: LayerArchive = { tar: npmTar, createdBy: `node_modules: ${closure.packages.length} npm packages`, comment: 'npm dependencies' };
  const main = closure.workspaces[0]!;
  const appLayer: LayerArchive = {
    tar: `${appDir}.tar`,
    createdBy: `${closure.workspaces.map((w) => w.dir).join(' ')}: package.json, dist/`,
    comment: `${main.name} ${main.version}, SBOM`,
  };
  addLayer(layout, shared.baseTag(spec), 'dependencies', npmLayer, created);
  addLayer(layout, 'dependencies', opts.tag, appLayer, created);
  const source = git(['config', '--get', 'remote.origin.url']);
  const revision = git(['rev-parse', 'HEAD']);
  const meta: Record<string, string> = {
    'org.opencontainers.image.created': created,
    'org.opencontainers.image.version': opts.tag,
    'org.opencontainers.image.title': spec.repository,
    'org.opencontainers.image.description': spec.description,
    ...(source ? { 'org.opencontainers.image.source': source } : {}),
    ...(revision ? { 'org.opencontainers.image.revision': revision } : {}),
  };
  umoci([
    'config',
    `--image=${layout}:${opts.tag}`,
    '--no-history',
    `--created=${created}`,
    '--architecture=amd64',
    '--os=linux',
    `--config.user=${spec.user}`,
    '--config.workingdir=/app',
    `--config.env=PATH=${imagePath}`,
    ...spec.entrypoint.map((e) => `--config.entrypoint=${e}`),
    ...Object.entries(meta).map(([k, v]) => `--config.label=${k}=${v}`),
    ...Object.entries(meta).map(([k, v]) => `--manifest.annotation=${k}=${v}`),
  ]);
  for (const tag of [...shared.baseTags, 'dependencies']) if (tag !== opts.tag) umoci(['rm', `--image=${layout}:${tag}`]);
  umoci(['gc', `--layout=${layout}`]);

  const manifest = taggedManifest(layout, opts.tag);
  const sbomArtifact = writeArtifact(layout, manifest, spdxMediaType, `${spec.name}.spdx.json`, sbom, created);
  writeIndex(layout, manifest, [opts.tag, ...spec.extraTags], (tag) => `docker.io/${spec.repository}:${tag}`, [sbomArtifact]);
  writeFileSync(join(opts.out, `${spec.name}.spdx.json`), sbom);
  const m = JSON.parse(readBlob(layout, manifest.digest).toString()) as { config: Descriptor; layers: Descriptor[] };
  const compressedSize = manifest.size + m.config.size + m.layers.reduce((n, l) => n + l.size, 0);
  return { spec, reference: `${spec.repository}:${opts.tag}`, manifest, compressedSize, layout };
}

export async function buildImages(opts: BuildOptions): Promise<BuiltImage[]> {
  const started = performance.now();
  const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(1)} s`;
  process.umask(0o022);
  const epoch = sourceDateEpoch();
  const closures = new Map(opts.only.map((s) => [s.name, npmClosure(repoRoot, s.workspace, s.buildOnlyDependencies)]));
  checkInputs(opts.only, closures);
  checkTools();

  mkdirSync(opts.out, { recursive: true });
  const work = mkdtempSync(join(opts.out, '.build-'));
  const interrupted = (): never => {
    rmSync(work, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
  try {
    const npmTars = new Map<string, string>();
    const shared = await buildSharedLayers(work, opts.only, closures, epoch, npmTars);
    log(
      `base layers: ${shared.debian.length} Debian packages + node ${shared.node.version}, network tools ${shared.networkTools.length} packages (${elapsed()})`,
    );
    return opts.only.map((spec) => {
      const built = assembleImage(spec, closures.get(spec.name)!, shared, npmTars.get(spec.name)!, work, opts, epoch);
      log(`${built.reference} (${elapsed()})`);
      return built;
    });
  } finally {
    process.off('SIGINT', interrupted).off('SIGTERM', interrupted);
    rmSync(work, { recursive: true, force: true });
  }
}

const mib = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;

if (import.meta.main) {
  try {
    const opts = parseOptions(process.argv.slice(2));
    const started = performance.now();
    const built = await buildImages(opts);
    for (const b of built) {
      const rel = relative(process.cwd(), b.layout);
      const also = b.spec.extraTags.map((t) => `:${t}`).join(' ');
      console.log(
        `${b.reference.padEnd(26)} ${b.manifest.digest} ${mib(b.compressedSize).padStart(10)}  ${rel.startsWith('..') ? b.layout : rel}${also ? ` (also ${also})` : ''}`,
      );
    }
    log(`${built.length} image${built.length === 1 ? '' : 's'} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } catch (err) {
    if (!(err instanceof ImageBuildError)) throw err;
    console.error(`images: ${err.code}: ${err.message}`);
    process.exit(1);
  }
}

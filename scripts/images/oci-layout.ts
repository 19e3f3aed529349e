// OCI image layouts, assembled with umoci (Debian's daemonless OCI image tool): it compresses each
// layer archive, writes the config and manifest blobs and index.json. What umoci cannot express
// — the SBOM as an OCI 1.1 artifact whose `subject` is the image, the containerd image name, the
// platform — is added to index.json afterwards by writeIndex().
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, linkSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImageBuildError } from './image-build-error.ts';

export const mediaTypes = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  empty: 'application/vnd.oci.empty.v1+json',
} as const;

export type Descriptor = { mediaType: string; digest: string; size: number; artifactType?: string; annotations?: Record<string, string>; data?: string };

export type LayerArchive = { tar: string; createdBy: string; comment: string };

export function umoci(args: string[]): void {
  const r = spawnSync('umoci', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new ImageBuildError('ERR_IMAGES_COMMAND_FAILED', `umoci ${args.join(' ')} failed: ${r.error?.message ?? r.stderr.trim()}`);
}

/** Appends `layer` to `layout:from`, saved as `layout:to`, with a history entry at `created`. */
export function addLayer(layout: string, from: string, to: string, layer: LayerArchive, created: string): void {
  umoci([
    'raw',
    'add-layer',
    `--image=${layout}:${from}`,
    `--tag=${to}`,
    `--history.created=${created}`,
    `--history.created_by=${layer.createdBy}`,
    `--history.comment=${layer.comment}`,
    layer.tar,
  ]);
}

/** A new layout holding one empty image tagged `tag`. */
export function initLayout(layout: string, tag: string): void {
  umoci(['init', `--layout=${layout}`]);
  umoci(['new', `--image=${layout}:${tag}`]);
}

/** A copy of `from` at `to` whose blobs are hard links (same file system) or copies. */
export function cloneLayout(from: string, to: string): void {
  mkdirSync(join(to, 'blobs/sha256'), { recursive: true });
  for (const f of ['oci-layout', 'index.json']) copyFileSync(join(from, f), join(to, f));
  for (const blob of readdirSync(join(from, 'blobs/sha256'))) {
    try {
      linkSync(join(from, 'blobs/sha256', blob), join(to, 'blobs/sha256', blob));
    } catch {
      copyFileSync(join(from, 'blobs/sha256', blob), join(to, 'blobs/sha256', blob));
    }
  }
}

export function readBlob(layout: string, digest: string): Buffer {
  return readFileSync(join(layout, 'blobs', ...digest.split(':')));
}

/** Stores `data` as a blob and returns its descriptor. */
export function writeBlob(layout: string, mediaType: string, data: Buffer): Descriptor {
  const hex = createHash('sha256').update(data).digest('hex');
  writeFileSync(join(layout, 'blobs/sha256', hex), data);
  return { mediaType, digest: `sha256:${hex}`, size: data.length };
}

type Index = { schemaVersion: 2; mediaType?: string; manifests: Descriptor[] };

export function readIndex(layout: string): Index {
  return JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as Index;
}

/** The manifest descriptor tagged `tag` in index.json. */
export function taggedManifest(layout: string, tag: string): Descriptor {
  const d = readIndex(layout).manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!d) throw new ImageBuildError('ERR_IMAGES_CONTENT_MISSING', `${layout} has no image tagged ${tag}`);
  return d;
}

/**
 * An OCI 1.1 artifact manifest carrying `data` (e.g. the SPDX document) whose subject is `image`:
 * `oras discover`, and registries' referrers API, find it from the image's digest.
 */
export function writeArtifact(layout: string, image: Descriptor, artifactType: string, fileName: string, data: Buffer, created: string): Descriptor {
  const empty = writeBlob(layout, mediaTypes.empty, Buffer.from('{}'));
  const payload = writeBlob(layout, artifactType, data);
  const manifest = {
    schemaVersion: 2,
    mediaType: mediaTypes.manifest,
    artifactType,
    config: { ...empty, data: Buffer.from('{}').toString('base64') },
    layers: [{ ...payload, annotations: { 'org.opencontainers.image.title': fileName } }],
    subject: { mediaType: image.mediaType, digest: image.digest, size: image.size },
    annotations: { 'org.opencontainers.image.created': created },
  };
  return { ...writeBlob(layout, mediaTypes.manifest, Buffer.from(JSON.stringify(manifest))), artifactType };
}

/**
 * index.json as the build leaves it: the image under each tag (with the name containerd's
 * `ctr images import` gives it, and its platform), then the artifacts referring to it.
 */
export function writeIndex(layout: string, image: Descriptor, tags: string[], containerdName: (tag: string) => string, artifacts: Descriptor[]): void {
  const { annotations: _, ...plain } = image;
  const index = {
    schemaVersion: 2,
    mediaType: mediaTypes.index,
    manifests: [
      ...tags.map((tag) => ({
        ...plain,
        platform: { architecture: 'amd64', os: 'linux' },
        annotations: { 'io.containerd.image.name': containerdName(tag), 'org.opencontainers.image.ref.name': tag },
      })),
      ...artifacts,
    ],
  };
  writeFileSync(join(layout, 'index.json'), JSON.stringify(index));
  // umoci writes blobs readable by their owner only; a layout is for anyone to read.
  for (const blob of readdirSync(join(layout, 'blobs/sha256'))) chmodSync(join(layout, 'blobs/sha256', blob), 0o644);
}

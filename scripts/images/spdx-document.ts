// The SBOM of one image, SPDX 2.3 JSON: the image as a CONTAINER package that CONTAINS every
// Debian package of its base layers, the Node runtime, our workspaces and each third-party npm
// package, with versions, package URLs, declared licences (npm) and checksums (npm's lockfile
// integrity). Pure: the same input gives the same bytes, timestamps included.
import { createHash } from 'node:crypto';
import type { DebianPackage } from './debian-rootfs.ts';
import type { NpmPackage, WorkspacePackage } from './npm-closure.ts';

export const spdxMediaType = 'application/spdx+json';

export type SbomInput = {
  /** e.g. ambient/istiod-lite */
  repository: string;
  tag: string;
  description: string;
  /** ISO 8601, seconds precision, UTC. */
  created: string;
  debianDistro: string;
  debian: DebianPackage[];
  node: { version: string; npmPackage: string; integrity: string | undefined };
  workspaces: WorkspacePackage[];
  npm: NpmPackage[];
};

type SpdxPackage = {
  SPDXID: string;
  name: string;
  versionInfo: string;
  downloadLocation: string;
  filesAnalyzed: false;
  licenseDeclared: string;
  copyrightText: 'NOASSERTION';
  primaryPackagePurpose: 'CONTAINER' | 'APPLICATION' | 'LIBRARY' | 'OPERATING-SYSTEM';
  supplier?: string;
  homepage?: string;
  sourceInfo?: string;
  checksums?: { algorithm: 'SHA512'; checksumValue: string }[];
  externalRefs?: { referenceCategory: 'PACKAGE-MANAGER'; referenceType: 'purl'; referenceLocator: string }[];
};

const purlRef = (locator: string): SpdxPackage['externalRefs'] => [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: locator }];

/** pkg:npm/%40scope/name@version */
export function npmPurl(name: string, version: string): string {
  const [scope, base] = name.startsWith('@') ? [name.slice(0, name.indexOf('/')), name.slice(name.indexOf('/') + 1)] : [undefined, name];
  return `pkg:npm/${scope ? `${encodeURIComponent(scope)}/` : ''}${encodeURIComponent(base!)}@${encodeURIComponent(version)}`;
}

/** npm's integrity (sha512-<base64>) as SPDX wants it (hex). */
function sha512Checksums(integrity: string | undefined): SpdxPackage['checksums'] {
  const sha512 = integrity?.split(/\s+/).find((i) => i.startsWith('sha512-'));
  return sha512 ? [{ algorithm: 'SHA512', checksumValue: Buffer.from(sha512.slice('sha512-'.length), 'base64').toString('hex') }] : undefined;
}

export function spdxDocument(input: SbomInput): object {
  const ids = new Set<string>();
  const spdxId = (kind: string, name: string, version: string): string => {
    const base = `SPDXRef-${kind}-${name}-${version}`.replace(/[^A-Za-z0-9.-]+/g, '-');
    let id = base;
    for (let n = 2; ids.has(id); n++) id = `${base}-${n}`;
    ids.add(id);
    return id;
  };
  const image: SpdxPackage = {
    SPDXID: spdxId('image', input.repository, input.tag),
    name: input.repository,
    versionInfo: input.tag,
    downloadLocation: 'NOASSERTION',
    filesAnalyzed: false,
    licenseDeclared: 'NOASSERTION',
    copyrightText: 'NOASSERTION',
    primaryPackagePurpose: 'CONTAINER',
  };
  const debian = input.debian.map(
    (p): SpdxPackage => ({
      SPDXID: spdxId('deb', p.name, p.version),
      name: p.name,
      versionInfo: p.version,
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      // Debian records licences in /usr/share/doc/<package>/copyright (kept in the image), not machine-readably per package.
      licenseDeclared: 'NOASSERTION',
      copyrightText: 'NOASSERTION',
      primaryPackagePurpose: 'OPERATING-SYSTEM',
      supplier: 'Organization: Debian',
      ...(p.homepage ? { homepage: p.homepage } : {}),
      ...(p.source && p.source !== p.name ? { sourceInfo: `built from Debian source package ${p.source}` } : {}),
      externalRefs: purlRef(
        `pkg:deb/debian/${encodeURIComponent(p.name)}@${encodeURIComponent(p.version)}?arch=${p.architecture}${p.source && p.source !== p.name ? `&upstream=${encodeURIComponent(p.source)}` : ''}&distro=${input.debianDistro}`,
      ),
    }),
  );
  const node: SpdxPackage = {
    SPDXID: spdxId('runtime', 'node', input.node.version),
    name: 'node',
    versionInfo: input.node.version,
    downloadLocation: `https://registry.npmjs.org/${input.node.npmPackage}/-/${input.node.npmPackage}-${input.node.version}.tgz`,
    filesAnalyzed: false,
    licenseDeclared: 'MIT',
    copyrightText: 'NOASSERTION',
    primaryPackagePurpose: 'APPLICATION',
    homepage: 'https://nodejs.org',
    sourceInfo: `the npm package ${input.node.npmPackage}, installed as /usr/local/bin/node with debug sections stripped`,
    ...(sha512Checksums(input.node.integrity) ? { checksums: sha512Checksums(input.node.integrity)! } : {}),
    externalRefs: purlRef(npmPurl(input.node.npmPackage, input.node.version)),
  };
  const workspaces = input.workspaces.map(
    (w, i): SpdxPackage => ({
      SPDXID: spdxId('workspace', w.name, w.version),
      name: w.name,
      versionInfo: w.version,
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      licenseDeclared: 'NOASSERTION',
      copyrightText: 'NOASSERTION',
      primaryPackagePurpose: i === 0 ? 'APPLICATION' : 'LIBRARY',
      sourceInfo: `compiled from the ${w.dir}/ workspace of the ambient-mesh repository, in /app/${w.dir}`,
    }),
  );
  const npm = input.npm.map(
    (p): SpdxPackage => ({
      SPDXID: spdxId('npm', p.name, p.version),
      name: p.name,
      versionInfo: p.version,
      downloadLocation: p.resolved ?? 'NOASSERTION',
      filesAnalyzed: false,
      licenseDeclared: p.license ?? 'NOASSERTION',
      copyrightText: 'NOASSERTION',
      primaryPackagePurpose: 'LIBRARY',
      sourceInfo: `in /app/${p.dir}`,
      ...(sha512Checksums(p.integrity) ? { checksums: sha512Checksums(p.integrity)! } : {}),
      externalRefs: purlRef(npmPurl(p.name, p.version)),
    }),
  );
  const contents = [...debian, node, ...workspaces, ...npm];
  // The namespace must be unique per document: derive it from what the document says.
  const fingerprint = createHash('sha256')
    .update(JSON.stringify([input.repository, input.tag, input.created, contents.map((p) => `${p.name}@${p.versionInfo}`)]))
    .digest('hex')
    .slice(0, 32);
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `${input.repository}:${input.tag}`,
    documentNamespace: `https://spdx.org/spdxdocs/${input.repository.replace(/\//g, '-')}-${input.tag}-${fingerprint}`,
    comment: input.description,
    creationInfo: { created: input.created, creators: ['Tool: ambient-mesh-scripts-images'] },
    packages: [image, ...contents],
    relationships: [
      { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: image.SPDXID },
      ...contents.map((p) => ({ spdxElementId: image.SPDXID, relationshipType: 'CONTAINS', relatedSpdxElement: p.SPDXID })),
    ],
  };
}

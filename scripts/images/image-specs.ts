// The four images: which workspace each one runs, as whom, and what it needs besides Node.
// Plain data; build.ts turns it into layers. The commands match the Kubernetes manifests
// (deploy/ and istiod-lite's waypoint Deployment), which tests/images/images.test.ts checks.

/** Debian packages of the base layer every image shares: what the `node` binary links against
 * (glibc, libstdc++, libgcc-s) and /etc/services & co. */
export const runtimePackages = ['libc6', 'libgcc-s1', 'libstdc++6', 'netbase'];

/** Data-only packages taken without their dependencies: base-files (/etc/os-release, the
 * licences) pre-depends on awk, and ca-certificates on openssl and debconf, only for their
 * maintainer scripts, which an image never runs (the CA bundle is assembled by the builder). */
export const runtimeDataPackages = ['base-files', 'ca-certificates'];

/** The second Debian layer, for the two node-level components that change network namespaces. */
export const networkToolPackages = ['iproute2', 'iptables', 'nftables', 'util-linux'];

/** Debian wires `iptables` & co. to iptables-nft with update-alternatives, a maintainer script;
 * the builder makes the same links (the host's default, and what ztunnel's cleanup expects). */
export const iptablesAlternatives = ['iptables', 'iptables-save', 'iptables-restore', 'ip6tables', 'ip6tables-save', 'ip6tables-restore'];

/** Files of our workspaces, besides package.json and dist/, that their code reads at run time
 * (repository paths); an image holding the workspace holds these too. */
export const workspaceRuntimeFiles: Record<string, string[]> = {
  // The .proto files api/src/grpc-protos.ts loads when imported.
  api: ['api/proto'],
};

/** The user the non-root images run as (distroless' `nonroot`). */
export const nonRootId = 65532;

export type ImageSpec = {
  /** Short name: the directory under dist/images/ and the SBOM's file name. */
  name: string;
  /** The repository the Kubernetes manifests name. */
  repository: string;
  /** The workspace whose dist/main.js the image runs. */
  workspace: string;
  description: string;
  /** config.Entrypoint; the manifests' `command` replaces it, with the same value. */
  entrypoint: string[];
  /** "uid:gid". */
  user: string;
  /** Whether the network-tools layer is part of the image. */
  networkTools: boolean;
  /** Other repository paths the image's code reads at run time (placed at /app/<path>). */
  extraFiles: string[];
  /** Executables the image must hold (checked after the build; a missing one fails it). */
  requiredPaths: string[];
  /** Third-party dependencies in package.json needed only to build, never loaded at run time. */
  buildOnlyDependencies: string[];
  /** More names for the same manifest in the layout (besides the version tag). */
  extraTags: string[];
};

const node = '/usr/local/bin/node';
const nodeFlags = (semiSpaceMiB: number): string[] => [`--max-semi-space-size=${semiSpaceMiB}`, '--conditions=ambient-dist', '--enable-source-maps'];

export const imageSpecs: ImageSpec[] = [
  {
    name: 'istiod-lite',
    repository: 'ambient/istiod-lite',
    workspace: 'istiod-lite',
    description: 'istiod-lite: the ambient mesh control plane (xDS, CA, waypoint controller, sidecar injector)',
    // deploy/istiod-lite/deployment.yaml
    entrypoint: ['node', ...nodeFlags(16), 'istiod-lite/dist/main.js'],
    user: `${nonRootId}:${nonRootId}`,
    networkTools: false,
    // The CRDs `--install-crds` applies (istiod-lite/src/kube/crds.ts: ../../../deploy/crds from dist/kube/).
    extraFiles: ['deploy/crds'],
    requiredPaths: [node],
    buildOnlyDependencies: [],
    extraTags: [],
  },
  {
    name: 'ztunnel',
    repository: 'ambient/ztunnel',
    workspace: 'ztunnel',
    description: 'ztunnel: the ambient mesh per-node L4 proxy (HBONE, mTLS, L4 policy)',
    // deploy/daemonset/ztunnel.yaml
    entrypoint: ['node', ...nodeFlags(1), 'ztunnel/dist/main.js'],
    // Root with NET_ADMIN + SYS_ADMIN: it enters pods' network namespaces (nsenter) and writes
    // their iptables rules; the DaemonSet grants exactly those capabilities.
    user: '0:0',
    networkTools: true,
    // Loaded by ztunnel/src/capture/native.ts from ../../native/build/Release/ relative to dist/capture/.
    extraFiles: ['ztunnel/native/build/Release/ztunnel_native.node'],
    requiredPaths: [node, '/usr/bin/nsenter', '/usr/sbin/iptables-save', '/usr/sbin/iptables-restore', '/usr/sbin/nft'],
    // node-gyp compiles the addon at `npm install`, against node-addon-api's headers; the image
    // carries the compiled .node file instead.
    buildOnlyDependencies: ['node-gyp', 'node-addon-api'],
    extraTags: [],
  },
  {
    name: 'waypoint',
    repository: 'ambient/waypoint',
    workspace: 'waypoint',
    description: 'waypoint: the ambient mesh L7 proxy (HTTPRoute, L7 policy, retries, rate limits)',
    // istiod-lite's waypoint Deployment runs `command: [ambient-waypoint]` (image ambient/waypoint:local).
    entrypoint: ['ambient-waypoint'],
    user: `${nonRootId}:${nonRootId}`,
    networkTools: false,
    extraFiles: [],
    requiredPaths: [node, '/usr/local/bin/ambient-waypoint'],
    buildOnlyDependencies: [],
    extraTags: ['local'],
  },
  {
    name: 'cni',
    repository: 'ambient/cni',
    workspace: 'cni',
    description: 'ambient-cni node agent: installs the CNI plugin on the node and hands pod network namespaces to ztunnel',
    // deploy/daemonset/istio-cni-node.yaml
    entrypoint: ['node', ...nodeFlags(1), 'cni/dist/main.js'],
    // Root with NET_ADMIN + SYS_ADMIN: it writes the node's /opt/cni/bin and /etc/cni/net.d and
    // probes pods' network namespaces (nsenter + ip).
    user: '0:0',
    networkTools: true,
    extraFiles: [],
    requiredPaths: [node, '/usr/bin/nsenter', '/usr/bin/ip', '/app/cni/dist/bin/ambient-cni'],
    buildOnlyDependencies: [],
    extraTags: [],
  },
];

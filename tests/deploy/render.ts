// The install paths of deploy/, rendered by the real tools: `kubectl kustomize` (v1.34, which
// has kustomize built in) for the base and the overlays, `helm template` for the chart. Each
// render runs once per test run, whichever tests/deploy/ file asks first; the binaries come
// from `bash scripts/fetch-kubectl.sh` (npm test's pretest), nothing from the network.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { loadAll } from 'js-yaml';

const run = promisify(execFile);

export const repo = resolve(import.meta.dirname, '../..');
export const kubectlPath = join(repo, '.cache/kubectl/v1.34/kubectl');
export const helmPath = join(repo, '.cache/helm/helm');
export const chartDir = join(repo, 'deploy/helm/ambient');
export const nonDefaultValues = join(chartDir, 'ci/non-default-values.yaml');

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export interface Rendered {
  source: Source;
  yaml: string;
  objects: KubeObject[];
}

/** What produces the objects: the argv of kubectl or helm. */
const sources = {
  base: ['kubectl', 'kustomize', join(repo, 'deploy')],
  'overlay dev': ['kubectl', 'kustomize', join(repo, 'deploy/overlays/dev')],
  'overlay prod': ['kubectl', 'kustomize', join(repo, 'deploy/overlays/prod')],
  'helm default': ['helm', 'template', 'ambient', chartDir, '--namespace', 'istio-system', '--include-crds'],
  'helm non-default': ['helm', 'template', 'ambient', chartDir, '--namespace', 'istio-system', '--include-crds', '-f', nonDefaultValues],
  'helm demo': ['helm', 'template', 'ambient', chartDir, '--namespace', 'istio-system', '--include-crds', '--set', 'profile=demo'],
  'helm minimal': ['helm', 'template', 'ambient', chartDir, '--namespace', 'istio-system', '--include-crds', '--set', 'profile=minimal'],
} as const;

export type Source = keyof typeof sources;
export const allSources = Object.keys(sources) as Source[];

/** Helm keeps its caches and config here rather than in the user's home. */
const helmHome = join(tmpdir(), 'ambient-deploy-tests-helm');

export function toolEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  mkdirSync(helmHome, { recursive: true });
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: helmHome,
    HELM_CACHE_HOME: join(helmHome, 'cache'),
    HELM_CONFIG_HOME: join(helmHome, 'config'),
    HELM_DATA_HOME: join(helmHome, 'data'),
    ...extra,
  };
}

export interface ToolResult {
  code: number;
  stdout: string;
  /** stderr without Helm's notices about the chart's symlinks (crds/, two templates). */
  stderr: string;
}

/** Runs kubectl or helm; never throws for a non-zero exit (the caller asserts on it). */
export async function tool(name: 'kubectl' | 'helm', args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<ToolResult> {
  const path = name === 'kubectl' ? kubectlPath : helmPath;
  if (!existsSync(path)) throw new Error(`${path} is missing: run 'bash scripts/fetch-kubectl.sh v1.34' (npm test's pretest does)`);
  try {
    const r = await run(path, [...args], { env: toolEnv(env), encoding: 'utf8', maxBuffer: 64 << 20, timeout: 60_000 });
    return { code: 0, stdout: r.stdout, stderr: withoutSymlinkNotices(r.stderr) };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: withoutSymlinkNotices(e.stderr ?? String(err)) };
  }
}

function withoutSymlinkNotices(stderr: string): string {
  return stderr.replace(/^level=INFO msg="found symbolic link in path.*\n?/gm, '');
}

export function parseManifests(yaml: string): KubeObject[] {
  return (loadAll(yaml) as unknown[]).filter((d): d is KubeObject => d !== null && typeof d === 'object');
}

const cache = new Map<Source, Promise<Rendered>>();

/** The objects of one install path (rendered once per run). */
export function render(source: Source): Promise<Rendered> {
  let p = cache.get(source);
  if (!p) {
    const [name, ...args] = sources[source];
    p = tool(name, args).then((r) => {
      if (r.code !== 0) throw new Error(`${name} ${args.join(' ')} failed (exit ${r.code}): ${r.stderr}`);
      return { source, yaml: r.stdout, objects: parseManifests(r.stdout) };
    });
    cache.set(source, p);
  }
  return p;
}

/** `apps/v1 Deployment istio-system/istiod-lite`: what identifies an object in a cluster. */
export function objectKey(o: KubeObject): string {
  return `${o.apiVersion} ${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;
}

export function find(objects: readonly KubeObject[], kind: string, name: string): KubeObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} among ${objects.map(objectKey).join(', ')}`);
  return found;
}

/** The same value with object keys sorted, so equal objects serialize equally. */
export function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

// Plain shapes of the workload fields the tests read (the rendered YAML is untyped).
export interface Container {
  name: string;
  image: string;
  imagePullPolicy?: string;
  env?: { name: string; value?: string }[];
  ports?: { containerPort: number; hostPort?: number }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: SecurityContext;
}

export interface SecurityContext {
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  runAsNonRoot?: boolean;
  runAsUser?: number;
  readOnlyRootFilesystem?: boolean;
  procMount?: string;
  capabilities?: { add?: string[]; drop?: string[] };
  seccompProfile?: { type: string };
  appArmorProfile?: { type: string };
  seLinuxOptions?: { type?: string; user?: string; role?: string };
  windowsOptions?: { hostProcess?: boolean };
}

export interface PodSpec {
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  priorityClassName?: string;
  securityContext?: SecurityContext & { sysctls?: { name: string }[] };
  initContainers?: Container[];
  containers: Container[];
  volumes?: ({ name: string } & Record<string, unknown>)[];
  topologySpreadConstraints?: { topologyKey: string; whenUnsatisfiable: string }[];
}

export interface Workload extends KubeObject {
  spec: { replicas?: number; template: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec } };
}

/** The Deployments and DaemonSets among `objects`. */
export function workloads(objects: readonly KubeObject[]): Workload[] {
  return objects.filter((o): o is Workload => o.kind === 'Deployment' || o.kind === 'DaemonSet');
}

export function podSpec(objects: readonly KubeObject[], kind: 'Deployment' | 'DaemonSet', name: string): PodSpec {
  return (find(objects, kind, name) as Workload).spec.template.spec;
}

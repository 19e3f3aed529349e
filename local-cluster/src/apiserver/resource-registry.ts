// Which resources the server serves: the built-in kinds plus one entry per served version
// of every CustomResourceDefinition. Discovery and routing read it, so a CRD appears and
// disappears the moment it is stored or deleted.
import { resourcesFromCrd } from '../apimachinery/builtin-resources.ts';
import type { KubeObject, ResourceInfo } from '../apimachinery/types.ts';

export interface GroupVersions {
  group: string;
  versions: string[]; // preferred first
}

/** Kubernetes version priority: GA > beta > alpha, then higher numbers first. */
export function compareVersions(a: string, b: string): number {
  const rank = (v: string): [number, number, number] => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return [-1, 0, 0];
    return [m[2] === undefined ? 2 : m[2] === 'beta' ? 1 : 0, Number(m[1]), Number(m[3] ?? 0)];
  };
  const [ra, rb] = [rank(a), rank(b)];
  for (let i = 0; i < 3; i++) if (ra[i] !== rb[i]) return rb[i]! - ra[i]!;
  return a < b ? -1 : a > b ? 1 : 0;
}

export class ResourceRegistry {
  readonly #builtin: ResourceInfo[];
  readonly #crds = new Map<string, ResourceInfo[]>(); // CRD name → its served versions
  #index = new Map<string, ResourceInfo>();

  constructor(builtin: ResourceInfo[]) {
    this.#builtin = builtin;
    this.#reindex();
  }

  /** Adds or replaces the resources a CRD serves. */
  setCrd(crd: KubeObject): void {
    this.#crds.set(crd.metadata.name ?? '', resourcesFromCrd(crd));
    this.#reindex();
  }

  removeCrd(name: string): void {
    if (this.#crds.delete(name)) this.#reindex();
  }

  isBuiltin(r: ResourceInfo): boolean {
    return this.#builtin.includes(r);
  }

  lookup(group: string, version: string, plural: string): ResourceInfo | undefined {
    return this.#index.get(`${group}/${version}/${plural}`);
  }

  all(): ResourceInfo[] {
    return [...this.#index.values()];
  }

  /** Served groups in discovery order (core first, then built-in groups, then CRD groups). */
  groups(): GroupVersions[] {
    const byGroup = new Map<string, Set<string>>();
    for (const r of this.#index.values()) {
      let s = byGroup.get(r.group);
      if (!s) byGroup.set(r.group, (s = new Set()));
      s.add(r.version);
    }
    return [...byGroup].map(([group, versions]) => ({ group, versions: [...versions].sort(compareVersions) }));
  }

  inGroupVersion(group: string, version: string): ResourceInfo[] {
    return this.all().filter((r) => r.group === group && r.version === version);
  }

  /** The version whose apiVersion objects are stored with (the preferred one). */
  storageVersion(group: string, plural: string): string | undefined {
    const versions = this.all()
      .filter((r) => r.group === group && r.plural === plural)
      .map((r) => r.version);
    return versions.sort(compareVersions)[0];
  }

  #reindex(): void {
    const index = new Map<string, ResourceInfo>();
    for (const r of [...this.#builtin, ...[...this.#crds.values()].flat()]) index.set(`${r.group}/${r.version}/${r.plural}`, r);
    this.#index = index;
  }
}

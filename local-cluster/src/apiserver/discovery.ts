// Legacy (non-aggregated) discovery documents. kubectl 1.34 asks for aggregated discovery
// first but falls back to these when the response's Content-Type is plain application/json.
import type { ResourceInfo } from '../apimachinery/types.ts';
import { groupVersion } from '../apimachinery/types.ts';
import type { GroupVersions } from './resource-registry.ts';

type Doc = Record<string, unknown>;

export function versionInfo(): Doc {
  return {
    major: '1',
    minor: '34',
    gitVersion: 'v1.34.0-local',
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2025-01-01T00:00:00Z',
    goVersion: 'go1.24.0',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}

export function coreVersions(serverAddress: string): Doc {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

export function groupList(groups: GroupVersions[]): Doc {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: groups.filter((g) => g.group !== '').map(apiGroup),
  };
}

export function apiGroup(g: GroupVersions): Doc {
  const versions = g.versions.map((v) => ({ groupVersion: `${g.group}/${v}`, version: v }));
  return { kind: 'APIGroup', apiVersion: 'v1', name: g.group, versions, preferredVersion: versions[0] };
}

/** Kinds of subresources whose body is not the parent kind. */
const SUBRESOURCE_KIND: Record<string, { kind: string; group?: string; version?: string; verbs: string[] }> = {
  status: { kind: '', verbs: ['get', 'patch', 'update'] },
  log: { kind: 'Pod', verbs: ['get'] },
  binding: { kind: 'Binding', verbs: ['create'] },
  token: { kind: 'TokenRequest', group: 'authentication.k8s.io', version: 'v1', verbs: ['create'] },
  scale: { kind: 'Scale', group: 'autoscaling', version: 'v1', verbs: ['get', 'patch', 'update'] },
  finalize: { kind: '', verbs: ['update'] },
};

export function resourceList(group: string, version: string, resources: ResourceInfo[]): Doc {
  const out: Doc[] = [];
  for (const r of resources.sort((a, b) => a.plural.localeCompare(b.plural))) {
    const entry: Doc = { name: r.plural, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: r.verbs };
    if (r.shortNames.length > 0) entry.shortNames = r.shortNames;
    if (r.categories.length > 0) entry.categories = r.categories;
    out.push(entry);
    for (const sub of r.subresources) {
      const s = SUBRESOURCE_KIND[sub] ?? { kind: '', verbs: ['get'] };
      const subEntry: Doc = { name: `${r.plural}/${sub}`, singularName: '', namespaced: r.namespaced, kind: s.kind || r.kind, verbs: s.verbs };
      if (s.group !== undefined) Object.assign(subEntry, { group: s.group, version: s.version });
      out.push(subEntry);
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: groupVersion({ group, version }), resources: out };
}

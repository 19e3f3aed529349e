// Which pods run (have a netns) in a cluster network, so the service proxy can write their
// hosts files. Ownership: kubelets own PodNets and are the only writers (add when a pod's
// netns is ready, before its containers start; remove when it is torn down); the service proxy
// only reads, and installs the hosts writer that `add` awaits, so a pod's processes start
// with every Service name already resolvable.
// One registry per ClusterNetwork (looked up by the network object), so kubelets and
// controllers built from the same ClusterContext meet without extra wiring.
import type { ClusterNetwork, PodNet } from '../runtime/index.ts';

export interface RunningPod {
  uid: string;
  namespace: string;
  name: string;
  net: PodNet;
}
export type HostsWriter = (pod: RunningPod) => Promise<void>;

export class PodRegistry {
  readonly #pods = new Map<string, RunningPod>();
  #hostsWriter: HostsWriter | undefined;

  async add(pod: RunningPod): Promise<void> {
    this.#pods.set(pod.uid, pod);
    await this.#hostsWriter?.(pod);
  }

  remove(uid: string): void {
    this.#pods.delete(uid);
  }

  list(): RunningPod[] {
    return [...this.#pods.values()];
  }

  setHostsWriter(writer: HostsWriter | undefined): void {
    this.#hostsWriter = writer;
  }
}

const registries = new WeakMap<ClusterNetwork, PodRegistry>();

export function podRegistryFor(network: ClusterNetwork): PodRegistry {
  let r = registries.get(network);
  if (!r) {
    r = new PodRegistry();
    registries.set(network, r);
  }
  return r;
}

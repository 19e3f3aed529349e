// Which endpoint of a backend a request goes to, per DestinationRule `loadBalancer`: round robin
// (the waypoint default, as the proto's LB_UNSPECIFIED says), random, or least request by
// power of two choices over in-flight counts. The caller tells the picker when a request it
// picked for ends, so in-flight counts stay exact. Outlier ejection and EWMA latency scoring
// come with the resilience layer; this file is where they plug in.
import type { LoadBalancer } from '@ambient/api';
import type { Endpoint } from '../config/waypoint-state.ts';

const keyOf = (e: Endpoint): string => `${e.ip}:${e.port}`;

export class EndpointPicker {
  readonly #random: () => number;
  readonly #cursor = new Map<string, number>(); // backend → next round-robin index
  readonly #inFlight = new Map<string, number>(); // endpoint ip:port → requests in flight

  constructor(random: () => number = Math.random) {
    this.#random = random;
  }

  /** An endpoint of `endpoints` for `backend` ("<hostname>:<port>"), or undefined when there is none. */
  pick(backend: string, endpoints: readonly Endpoint[], lb: LoadBalancer = 'LB_UNSPECIFIED'): Endpoint | undefined {
    const n = endpoints.length;
    if (n === 0) return undefined;
    if (n === 1) return endpoints[0];
    switch (lb) {
      case 'RANDOM':
        return endpoints[Math.floor(this.#random() * n)];
      case 'LEAST_REQUEST': {
        // Two random distinct candidates, the less loaded wins: near-best balance without a scan.
        const i = Math.floor(this.#random() * n);
        const j = (i + 1 + Math.floor(this.#random() * (n - 1))) % n;
        const [a, b] = [endpoints[i]!, endpoints[j]!];
        return this.inFlight(a) <= this.inFlight(b) ? a : b;
      }
      default: {
        // ROUND_ROBIN, LB_UNSPECIFIED, and PASSTHROUGH (a waypoint has no original destination
        // to pass through to for service traffic: round robin is the safe reading).
        const next = this.#cursor.get(backend) ?? 0;
        this.#cursor.set(backend, (next + 1) % n);
        return endpoints[next % n];
      }
    }
  }

  started(e: Endpoint): void {
    const k = keyOf(e);
    this.#inFlight.set(k, (this.#inFlight.get(k) ?? 0) + 1);
  }

  finished(e: Endpoint): void {
    const k = keyOf(e);
    const left = (this.#inFlight.get(k) ?? 1) - 1;
    if (left <= 0) this.#inFlight.delete(k);
    else this.#inFlight.set(k, left);
  }

  inFlight(e: Endpoint): number {
    return this.#inFlight.get(keyOf(e)) ?? 0;
  }
}

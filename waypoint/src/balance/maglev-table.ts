// The consistent-hash lookup table: Maglev (Eisenbud et al., NSDI 2016; Envoy's MAGLEV). Each
// endpoint walks its own permutation of the table's slots (offset and skip from a hash of its
// "ip:port") and the endpoints take turns claiming their next free slot until the table is full.
// Every endpoint ends up with ⌊M/n⌋ or ⌈M/n⌉ slots whatever M is, a lookup is one array read,
// and removing one of n endpoints moves about 1/n of the keys, plus a few percent more when the
// table has fewer than ~100 slots per endpoint. Istio's ringHash is served by this same table:
// the waypoint implements one algorithm.
//
// The table is built from the endpoints sorted by name, so two waypoint replicas with the same
// endpoint set map every key to the same endpoint.

/**
 * Envoy's maglev default, also the waypoint's when the config names no size. Keys moved by a
 * change of n endpoints stay close to the ideal 1/n while the table has ~100 slots per endpoint
 * or more (the Maglev paper's M > 100·N): up to ~650 endpoints here.
 */
export const DEFAULT_TABLE_SIZE = 65_537;

/** 32-bit FNV-1a over UTF-16 code units, finished with murmur3's fmix32 for avalanche. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

function fmix32(x: number): number {
  let h = x;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function nextPrime(n: number): number {
  let p = Math.max(2, Math.ceil(n));
  while (!isPrime(p)) p++;
  return p;
}

function isPrime(n: number): boolean {
  if (n < 4) return n >= 2;
  if (n % 2 === 0) return false;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

export class MaglevTable {
  /** Slots (a prime). */
  readonly size: number;
  /** Slot → index into the names the table was built from. */
  readonly #slots: Uint16Array | Uint32Array;

  /**
   * A table over `names` (distinct "ip:port" strings) of the smallest prime ≥ max(requested, n)
   * slots: Maglev needs a prime and at least one slot per endpoint. The size must not follow the
   * endpoint count any closer than that: a table of another size maps every key afresh.
   */
  constructor(names: readonly string[], requestedSize: number) {
    const n = names.length;
    if (n === 0) throw new RangeError('a maglev table needs at least one endpoint, got none');
    const m = nextPrime(Math.max(requestedSize, n));
    this.size = m;
    const empty = n < 0xffff ? 0xffff : 0xffffffff;
    const slots = n < 0xffff ? new Uint16Array(m) : new Uint32Array(m);
    slots.fill(empty);
    const order = names.map((_, i) => i).sort((a, b) => (names[a]! < names[b]! ? -1 : names[a]! > names[b]! ? 1 : a - b));
    const next = new Float64Array(n);
    const skip = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      const h = hashString(names[order[k]!]!);
      next[k] = h % m;
      skip[k] = (fmix32(h ^ 0x9e3779b9) % (m - 1)) + 1;
    }
    let filled = 0;
    for (;;) {
      for (let k = 0; k < n; k++) {
        let c = next[k]!;
        while (slots[c] !== empty) {
          c += skip[k]!;
          if (c >= m) c -= m;
        }
        slots[c] = order[k]!;
        c += skip[k]!;
        next[k] = c >= m ? c - m : c;
        if (++filled === m) {
          this.#slots = slots;
          return;
        }
      }
    }
  }

  /** The index (into the names given at build) that owns `hash`. */
  lookup(hash: number): number {
    return this.#slots[hash % this.size]!;
  }
}

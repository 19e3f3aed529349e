// Per-endpoint state keyed by the endpoint's ip and port. Two map levels instead of one
// "ip:port" key: the picker looks state up several times per request, and a lookup here reads
// strings the endpoint already holds instead of building a key string each time.

export interface EndpointAddress {
  readonly ip: string;
  readonly port: number;
}

export class EndpointMap<V> {
  readonly #byIp = new Map<string, Map<number, V>>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(e: EndpointAddress): V | undefined {
    return this.#byIp.get(e.ip)?.get(e.port);
  }

  set(e: EndpointAddress, value: V): void {
    let ports = this.#byIp.get(e.ip);
    if (ports === undefined) this.#byIp.set(e.ip, (ports = new Map()));
    if (!ports.has(e.port)) this.#size++;
    ports.set(e.port, value);
  }

  delete(e: EndpointAddress): boolean {
    const ports = this.#byIp.get(e.ip);
    if (ports === undefined || !ports.delete(e.port)) return false;
    this.#size--;
    if (ports.size === 0) this.#byIp.delete(e.ip);
    return true;
  }

  /** Calls `keep` on every value and drops those it answers false for. */
  retain(keep: (value: V) => boolean): void {
    for (const [ip, ports] of this.#byIp) {
      for (const [port, value] of ports) {
        if (keep(value)) continue;
        ports.delete(port);
        this.#size--;
      }
      if (ports.size === 0) this.#byIp.delete(ip);
    }
  }

  clear(): void {
    this.#byIp.clear();
    this.#size = 0;
  }
}

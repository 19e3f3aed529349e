// Service ClusterIP allocation from 10.96.0.0/16 (kube-proxy's DNAT role is the runtime's).
// 10.96.0.1 is the `kubernetes` Service's; automatic allocation starts in the upper part of
// the range so statically requested low addresses (like 10.96.0.10 for DNS) stay free.
import { ApiError, type StatusCause } from '../apimachinery/errors.ts';

const BASE = (10 << 24) | (96 << 16); // 10.96.0.0, as an unsigned number below 2^32 after >>> 0
const SIZE = 1 << 16;
const DYNAMIC_START = 256;

export const KUBERNETES_SERVICE_IP = '10.96.0.1';
export const SERVICE_CIDR = '10.96.0.0/16';

function toOffset(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return undefined;
  const n = parts.reduce((acc, p) => acc * 256 + Number(p), 0);
  const off = n - (BASE >>> 0);
  return off > 0 && off < SIZE - 1 ? off : undefined; // network and broadcast addresses excluded
}

function toIp(offset: number): string {
  const n = (BASE >>> 0) + offset;
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export class ClusterIpAllocator {
  readonly #used = new Set<number>();
  #cursor = DYNAMIC_START;

  /** Marks an address as taken (on load from storage); ignores addresses outside the range. */
  reserve(ip: string): void {
    const off = toOffset(ip);
    if (off !== undefined) this.#used.add(off);
  }

  /** Allocates `requested` if given (422 when outside the range or taken) or the next free one. */
  allocate(requested: string | undefined, field = 'spec.clusterIP'): string {
    if (requested) {
      const off = toOffset(requested);
      if (off === undefined) {
        throw invalidIp(field, requested, `provided IP is not in the valid range. The range of valid IPs is ${SERVICE_CIDR}`);
      }
      if (this.#used.has(off)) throw invalidIp(field, requested, 'provided IP is already allocated');
      this.#used.add(off);
      return requested;
    }
    for (let i = 0; i < SIZE; i++) {
      const off = DYNAMIC_START + ((this.#cursor - DYNAMIC_START + i) % (SIZE - 1 - DYNAMIC_START));
      if (!this.#used.has(off)) {
        this.#used.add(off);
        this.#cursor = off + 1;
        return toIp(off);
      }
    }
    throw new ApiError('InternalError', `no free cluster ip in ${SERVICE_CIDR}`);
  }

  release(ip: string | undefined): void {
    const off = ip ? toOffset(ip) : undefined;
    if (off !== undefined) this.#used.delete(off);
  }
}

function invalidIp(field: string, ip: string, why: string): ApiError {
  const cause: StatusCause = { reason: 'FieldValueInvalid', field, message: `Invalid value: "${ip}": ${why}` };
  return new ApiError('Invalid', `Service is invalid: ${field}: ${cause.message}`, { kind: 'Service', causes: [cause] });
}

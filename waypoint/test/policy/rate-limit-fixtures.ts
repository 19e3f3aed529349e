// Shared by the rate limit tests: policies from raw specs (through the real parser) and events
// recorded as readable lines.
import { parseRateLimitPolicy } from '@ambient/api/mesh-policy';
import type { RateLimitEvents, RateLimitPolicyInput, RateLimitRequest } from '../../src/policy/rate-limiter.ts';

/** A GET from frontend (shop) to reviews. */
export const req: RateLimitRequest = {
  method: 'GET',
  path: '/reviews/1',
  host: 'reviews.shop.svc.cluster.local',
  headers: {},
  sourceIp: '10.244.1.7',
  sourcePrincipal: 'spiffe://cluster.local/ns/shop/sa/frontend',
  sourceNamespace: 'shop',
};

export function policy(name: string, spec: unknown, namespace = 'shop'): RateLimitPolicyInput {
  return { namespace, name, spec: parseRateLimitPolicy(spec) };
}

export function recordingEvents(): RateLimitEvents & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    limited: (p, l) => log.push(`limited ${p} ${l}`),
    storeError: (p, open) => log.push(`store-error ${p} ${open ? 'open' : 'closed'}`),
    storeConnection: (a, up) => log.push(`connection ${a} ${up ? 'up' : 'down'}`),
  };
}

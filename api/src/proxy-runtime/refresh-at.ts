// When to renew a certificate: at half its remaining life, spread by jitter so the identities
// of a node (and the nodes of a cluster, restarted together) do not all hit the CA at once.

/** Fraction of the lifetime at which to refresh, ± this much at random. */
export const REFRESH_FRACTION = 0.5;
export const REFRESH_JITTER = 0.1;

/**
 * The epoch ms at which to refresh a certificate received at `receivedAt` and expiring at
 * `notAfter`. The lifetime is counted from receipt, not from notBefore: the CA back-dates
 * notBefore (5 minutes, for clock skew), which would make a short-lived certificate look
 * half-spent on arrival.
 */
export function refreshAt(opts: { receivedAt: number; notAfter: number; random: () => number }): number {
  const lifetime = Math.max(0, opts.notAfter - opts.receivedAt);
  const fraction = REFRESH_FRACTION + REFRESH_JITTER * (opts.random() * 2 - 1);
  return opts.receivedAt + Math.floor(lifetime * fraction);
}

// SPIFFE identities of Kubernetes workloads, as Istio writes them:
// spiffe://<trust domain>/ns/<namespace>/sa/<service account>.

export interface SpiffeId {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

// Kubernetes names: a namespace is a DNS label, a ServiceAccount a DNS subdomain. Anything else
// cannot name a real workload, so it is refused rather than signed.
const DNS_LABEL = '[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?';
const DNS_SUBDOMAIN = `${DNS_LABEL}(?:\\.${DNS_LABEL})*`;
const TRUST_DOMAIN = '[a-z0-9._-]+';
const SPIFFE_RE = new RegExp(`^spiffe://(${TRUST_DOMAIN})/ns/(${DNS_LABEL})/sa/(${DNS_SUBDOMAIN})$`);
const NAMESPACE_RE = new RegExp(`^${DNS_LABEL}$`);
const SERVICE_ACCOUNT_RE = new RegExp(`^${DNS_SUBDOMAIN}$`);

/** The identity a URI names, or undefined when it is not a workload SPIFFE ID. */
export function parseSpiffeId(uri: string): SpiffeId | undefined {
  const m = SPIFFE_RE.exec(uri);
  if (m === null || m[3]!.length > 253) return undefined;
  return { trustDomain: m[1]!, namespace: m[2]!, serviceAccount: m[3]! };
}

export function formatSpiffeId(id: SpiffeId): string {
  return `spiffe://${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

export function isNamespaceName(name: string): boolean {
  return NAMESPACE_RE.test(name);
}

export function isServiceAccountName(name: string): boolean {
  return name.length <= 253 && SERVICE_ACCOUNT_RE.test(name);
}

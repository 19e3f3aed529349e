// Which certificate a caller may have: the whole signing policy of the mesh CA as one pure
// function, so every rule is table-tested. Deny by default: each path that is not an explicit
// grant returns a denial that names the value at fault.
import type { Caller } from '../auth/caller.ts';
import { formatSpiffeId, parseSpiffeId } from '@ambient/api';
import type { PodLookup } from '../kube/pod-lookup.ts';

/** The parts of a parsed CSR the policy looks at. */
export interface CsrFacts {
  uris: string[];
  dnsNames: string[];
  signatureValid: boolean;
  keyType: string | undefined;
  namedCurve: string | undefined;
}

export interface CertificatePolicy {
  trustDomain: string;
  rootNamespace: string;
  ztunnelServiceAccount: string;
  defaultTtlSeconds: number;
  maxTtlSeconds: number;
}

export type DenialReason = 'bad-csr' | 'bad-signature' | 'bad-san' | 'bad-ttl' | 'identity-mismatch' | 'impersonation-denied' | 'no-node' | 'wrong-node';

export type CertificateDecision =
  | { allowed: true; spiffeId: string; ttlSeconds: number }
  | { allowed: false; status: 'invalid-argument' | 'permission-denied'; reason: DenialReason; message: string };

export interface CertificateAsk {
  caller: Caller;
  csr: CsrFacts;
  /** '' when the caller asks for itself. */
  impersonatedIdentity: string;
  /** Requested validity in seconds; 0 = the default. */
  ttlSeconds: number;
}

// Pods in these phases will never run again; their identity must not be handed out.
const TERMINAL_PHASES = new Set(['Succeeded', 'Failed']);

export function authorizeCertificate(ask: CertificateAsk, pods: PodLookup, policy: CertificatePolicy): CertificateDecision {
  const { caller, csr } = ask;
  if (csr.keyType !== 'ec' || csr.namedCurve !== 'prime256v1') {
    const key = csr.keyType === 'ec' ? `ec ${csr.namedCurve ?? 'unknown curve'}` : (csr.keyType ?? 'unknown');
    return invalid('bad-csr', `csr key must be ecdsa p-256, got ${key}`);
  }
  if (!csr.signatureValid) return invalid('bad-signature', 'csr signature does not verify with its own public key');

  const ttl = ask.ttlSeconds;
  // Istio's CA rejects a TTL above its maximum rather than clamping it, so a client never holds
  // a certificate shorter than it believes; we do the same.
  if (!Number.isSafeInteger(ttl) || ttl < 0) return invalid('bad-ttl', `validity duration must be a non-negative number of seconds, got ${ttl}`);
  if (ttl > policy.maxTtlSeconds) return invalid('bad-ttl', `requested validity ${ttl}s exceeds the maximum of ${policy.maxTtlSeconds}s`);
  const ttlSeconds = ttl === 0 ? policy.defaultTtlSeconds : ttl;

  if (csr.dnsNames.length > 0) return invalid('bad-san', `csr must not carry dns sans, got ${csr.dnsNames.join(', ')}`);
  if (csr.uris.length !== 1)
    return invalid('bad-san', `csr must carry exactly one spiffe uri san, got ${csr.uris.length}${csr.uris.length > 0 ? ` (${csr.uris.join(', ')})` : ''}`);
  const san = csr.uris[0]!;
  const id = parseSpiffeId(san);
  if (id === undefined) return invalid('bad-san', `csr san ${san} is not a spiffe id of the form spiffe://<trust domain>/ns/<namespace>/sa/<service account>`);
  if (id.trustDomain !== policy.trustDomain) return invalid('bad-san', `csr san ${san} is not in trust domain ${policy.trustDomain}`);
  // Canonical form: what we sign is exactly what we checked.
  const spiffeId = formatSpiffeId(id);
  const callerName = `${caller.namespace}/${caller.serviceAccount}`;

  if (ask.impersonatedIdentity === '') {
    if (id.namespace !== caller.namespace || id.serviceAccount !== caller.serviceAccount) {
      return denied('identity-mismatch', `service account ${callerName} may not obtain a certificate for ${spiffeId}`);
    }
    return { allowed: true, spiffeId, ttlSeconds };
  }

  if (caller.namespace !== policy.rootNamespace || caller.serviceAccount !== policy.ztunnelServiceAccount) {
    return denied(
      'impersonation-denied',
      `service account ${callerName} may not impersonate ${ask.impersonatedIdentity}: only ${policy.rootNamespace}/${policy.ztunnelServiceAccount} may`,
    );
  }
  if (ask.impersonatedIdentity !== san) {
    return denied('identity-mismatch', `impersonated identity ${ask.impersonatedIdentity} does not match the csr san ${san}`);
  }
  const node = callerNode(caller, pods);
  if ('error' in node) return denied('no-node', node.error);
  const onNode = pods
    .podsOnNode(node.name)
    .some((p) => p.namespace === id.namespace && p.serviceAccount === id.serviceAccount && !TERMINAL_PHASES.has(p.phase ?? ''));
  if (!onNode) return denied('wrong-node', `identity ${spiffeId} has no pod on node ${node.name}`);
  return { allowed: true, spiffeId, ttlSeconds };
}

/**
 * The node a ztunnel runs on. The bound token's node claim is authoritative (the API server
 * wrote it); older clusters only bind the pod, so we fall back to the pod's node. If both are
 * known and disagree, something is wrong and nothing is granted.
 */
function callerNode(caller: Caller, pods: PodLookup): { name: string } | { error: string } {
  const pod = caller.podName !== undefined ? pods.podByName(caller.namespace, caller.podName) : undefined;
  const podNode = pod?.nodeName;
  if (caller.nodeName !== undefined && caller.nodeName !== '') {
    if (podNode !== undefined && podNode !== '' && podNode !== caller.nodeName) {
      return { error: `token of ${caller.namespace}/${caller.podName} names node ${caller.nodeName} but the pod runs on ${podNode}` };
    }
    return { name: caller.nodeName };
  }
  if (podNode !== undefined && podNode !== '') return { name: podNode };
  if (caller.podName === undefined) return { error: `token of ${caller.namespace}/${caller.serviceAccount} is not bound to a pod, so its node is unknown` };
  return { error: `pod ${caller.namespace}/${caller.podName} of the token has no known node` };
}

function invalid(reason: DenialReason, message: string): CertificateDecision {
  return { allowed: false, status: 'invalid-argument', reason, message };
}

function denied(reason: DenialReason, message: string): CertificateDecision {
  return { allowed: false, status: 'permission-denied', reason, message };
}

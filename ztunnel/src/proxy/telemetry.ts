// Istio's connection labels from the workloads on both ends.
import type { Service, Workload } from '@ambient/api';
import type { ConnectionLabels } from '../metrics.ts';

const principal = (identity: string | undefined): string => identity ?? 'unknown';

export function connectionLabelsFor(reporter: 'source' | 'destination', source: Workload | undefined, destination: Workload | undefined, service: Service | undefined, peerIdentity: string | undefined, sourceIdentity?: string): ConnectionLabels {
  const mtls = reporter === 'source' ? peerIdentity !== undefined : sourceIdentity !== undefined;
  return {
    reporter,
    source_workload: source?.workloadName ?? source?.name ?? 'unknown',
    source_workload_namespace: source?.namespace ?? 'unknown',
    source_canonical_service: source?.canonicalName ?? 'unknown',
    source_canonical_revision: source?.canonicalRevision ?? 'unknown',
    source_principal: principal(reporter === 'source' ? source?.identity : sourceIdentity),
    destination_workload: destination?.workloadName ?? destination?.name ?? 'unknown',
    destination_workload_namespace: destination?.namespace ?? 'unknown',
    destination_canonical_service: destination?.canonicalName ?? 'unknown',
    destination_canonical_revision: destination?.canonicalRevision ?? 'unknown',
    destination_principal: principal(reporter === 'source' ? peerIdentity : destination?.identity),
    destination_service: service?.hostname ?? 'unknown',
    request_protocol: 'tcp',
    response_flags: '-',
    connection_security_policy: mtls ? 'mutual_tls' : 'unknown',
  };
}

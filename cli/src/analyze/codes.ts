// Every finding code, declared once: its severity is fixed per code so that a script can rely
// on it, and README.md documents each one (a test checks the table against this list).
import type { Finding, ObjectRef, Severity } from './finding.ts';

export interface Code {
  code: string;
  /** Our name for the problem, PascalCase like Istio's analyzer message names. */
  name: string;
  severity: Severity;
}

export const codes = {
  waypointIdentityNotAllowed: { code: 'AMB0001', name: 'WaypointIdentityNotAllowed', severity: 'Error' },
  waypointNotFound: { code: 'AMB0002', name: 'WaypointNotFound', severity: 'Error' },
  httpAttributesAtZtunnel: { code: 'AMB0003', name: 'HttpAttributesAtZtunnel', severity: 'Error' },
  policyTargetNotEnforced: { code: 'AMB0004', name: 'PolicyTargetNotEnforced', severity: 'Error' },
  routeParentNotFound: { code: 'AMB0005', name: 'RouteParentNotFound', severity: 'Error' },
  routeBackendNotFound: { code: 'AMB0006', name: 'RouteBackendNotFound', severity: 'Error' },
  waypointUserNotInMesh: { code: 'AMB0007', name: 'WaypointUserNotInMesh', severity: 'Warning' },
  waypointTrafficTypeMismatch: { code: 'AMB0008', name: 'WaypointTrafficTypeMismatch', severity: 'Warning' },
} as const satisfies Record<string, Code>;

export function finding(code: Code, object: ObjectRef, message: string, fix: string): Finding {
  return { code: code.code, severity: code.severity, object, message, fix };
}

// The project's own policy-attachment CRDs (mesh.ambient.dev/v1alpha1), parsed once for both
// sides: istiod-lite writes each object's status from the parse, the waypoint enforces it.
export * from './spec-fields.ts';
export * from './policy-target.ts';
export * from './backend-traffic-policy.ts';
export * from './fault-injection-policy.ts';
export * from './rate-limit-policy.ts';

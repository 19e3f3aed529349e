// The discovery types ztunnel subscribes to (api/proto/ambient/workload/v1/workload.proto).
export const addressTypeUrl = 'type.googleapis.com/ambient.workload.v1.Address';
export const authorizationTypeUrl = 'type.googleapis.com/ambient.workload.v1.Authorization';

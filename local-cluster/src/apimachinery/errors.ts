// Errors the API server returns, each rendered as a Kubernetes `Status` object with the
// reason and HTTP code real clients (kubectl, @kubernetes/client-node) act on.

export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Gone'
  | 'Invalid'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'UnsupportedMediaType'
  | 'Expired'
  | 'ServiceUnavailable'
  | 'InternalError';

const codes: Record<StatusReason, number> = {
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  AlreadyExists: 409,
  Conflict: 409,
  Gone: 410,
  Expired: 410,
  Invalid: 422,
  MethodNotAllowed: 405,
  NotAcceptable: 406,
  UnsupportedMediaType: 415,
  InternalError: 500,
  ServiceUnavailable: 503,
};

export interface StatusCause {
  reason?: string; // e.g. 'FieldValueInvalid', 'FieldValueRequired', 'FieldValueNotSupported'
  message: string;
  field?: string; // e.g. 'spec.replicas'
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string; // the resource's plural, as Kubernetes does
  causes?: StatusCause[];
}

// biome-ignore lint/plugin/error-extends-mesh-error: Kubernetes' Status error, whose `code` is the HTTP status kubectl reads, not a MeshError code
export class ApiError extends Error {
  /** One of StatusReason, or whatever an admission webhook denied with ('' = none). */
  readonly reason: string;
  readonly code: number;
  readonly details: StatusDetails | undefined;

  constructor(reason: StatusReason, message: string, details?: StatusDetails, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ApiError';
    this.reason = reason;
    this.code = codes[reason];
    this.details = details;
  }

  /**
   * The Status an admission webhook denied a request with, passed on as kube-apiserver does:
   * the webhook's own reason (any string) and code (at least 400).
   */
  static fromWebhookStatus(status: { reason: string; code: number; message: string; details?: StatusDetails }): ApiError {
    const err = new ApiError('BadRequest', status.message, status.details);
    // The two fields are readonly to everyone else; this is the one place that picks them.
    Object.assign(err, { reason: status.reason, code: status.code });
    return err;
  }

  toStatus(): Record<string, unknown> {
    const status: Record<string, unknown> = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      ...(this.reason ? { reason: this.reason } : {}),
      code: this.code,
    };
    if (this.details) status.details = this.details;
    return status;
  }
}

export const notFound = (resource: string, name: string, group = ''): ApiError =>
  new ApiError('NotFound', `${group ? `${resource}.${group}` : resource} "${name}" not found`, { name, group, kind: resource });

export const alreadyExists = (resource: string, name: string, group = ''): ApiError =>
  new ApiError('AlreadyExists', `${group ? `${resource}.${group}` : resource} "${name}" already exists`, { name, group, kind: resource });

export const conflict = (resource: string, name: string, group = ''): ApiError =>
  new ApiError(
    'Conflict',
    `Operation cannot be fulfilled on ${group ? `${resource}.${group}` : resource} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, group, kind: resource },
  );

export const invalid = (kind: string, name: string, causes: StatusCause[], group = ''): ApiError =>
  new ApiError(
    'Invalid',
    `${group ? `${kind}.${group}` : kind} "${name}" is invalid: ${causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message)).join(', ')}`,
    { name, group, kind, causes },
  );

export const badRequest = (message: string, options?: { cause?: unknown }): ApiError => new ApiError('BadRequest', message, undefined, options);

export const gone = (message: string): ApiError => new ApiError('Expired', message);

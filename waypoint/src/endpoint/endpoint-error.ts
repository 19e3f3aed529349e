// How an upstream exchange failed, named once: the code the retry policy keys on, whether any of
// the request reached the endpoint, and the response flag the access log and Istio metrics carry.
//
// Response flags are Envoy's (the waypoint's vocabulary, as Istio's Envoy waypoints report them):
// UF upstream connection failure, UC upstream connection termination, UR upstream remote reset,
// UPE upstream protocol error, UT upstream request timeout, DC downstream connection termination,
// LR local reset, DPE downstream protocol error. ztunnel's coarser flags stay on the HBONE outcome
// (`hbone.outcome`), which an error carries when the HBONE hop is where it failed.
import { MeshError } from '@ambient/api';
import { HboneError } from '@ambient/hbone';

export type UpstreamResponseFlag = 'UF' | 'UC' | 'UR' | 'UPE' | 'UT' | 'DC' | 'LR' | 'DPE';

export interface EndpointErrorRow {
  /** The flag, unless the meaning says how it varies. */
  readonly responseFlag: UpstreamResponseFlag;
  /** For messages. */
  readonly summary: string;
  /** For the README and the access log's readers. */
  readonly meaning: string;
}

export const endpointErrorCodes = {
  ERR_ENDPOINT_CONNECT: {
    responseFlag: 'UF',
    summary: 'connect failed',
    meaning: 'the HBONE connection (TCP, TLS, peer identity) failed or the CONNECT was refused; nothing was sent',
  },
  ERR_ENDPOINT_RESET: {
    responseFlag: 'UC',
    summary: 'reset after the request started',
    meaning: 'the connection (UC) or, on HTTP/2, the stream (UR) was reset after the request started',
  },
  ERR_ENDPOINT_PROTOCOL: { responseFlag: 'UPE', summary: 'protocol error', meaning: 'the endpoint answered something that is not valid HTTP' },
  ERR_ENDPOINT_ABORTED: {
    responseFlag: 'DC',
    summary: 'aborted',
    meaning:
      "our signal fired (UT when its reason is a 'TimeoutError', else DC), or the downstream went away: its request body failed or the response body was destroyed (DC)",
  },
  ERR_ENDPOINT_CLOSED: { responseFlag: 'LR', summary: 'endpoint client closed', meaning: 'the endpoint client was closed' },
  ERR_ENDPOINT_INVALID_REQUEST: {
    responseFlag: 'DPE',
    summary: 'invalid request',
    meaning: 'the request cannot be sent as given (e.g. a header value HTTP forbids)',
  },
} as const satisfies Record<string, EndpointErrorRow>;

export type EndpointErrorCode = keyof typeof endpointErrorCodes;

/** How far an exchange got when it failed. */
export interface ExchangePhase {
  /** Bytes of the request were handed to the connection: a retry may repeat a side effect. */
  requestSent: boolean;
  /** Response headers arrived (and may have gone downstream): no retry is possible. */
  responseStarted: boolean;
}

export interface EndpointErrorOptions extends Partial<ExchangePhase> {
  responseFlag?: UpstreamResponseFlag;
  cause?: unknown;
}

export class EndpointError extends MeshError<EndpointErrorCode> {
  readonly requestSent: boolean;
  readonly responseStarted: boolean;
  readonly responseFlag: UpstreamResponseFlag;
  /** The HBONE failure underneath, when the HBONE hop failed: `hbone.outcome` names the row (and its response_flags). */
  readonly hbone: HboneError | undefined;
  constructor(code: EndpointErrorCode, message: string, options: EndpointErrorOptions = {}) {
    super(code, message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.requestSent = options.requestSent ?? false;
    this.responseStarted = options.responseStarted ?? false;
    this.responseFlag = options.responseFlag ?? endpointErrorCodes[code].responseFlag;
    this.hbone = options.cause instanceof HboneError ? options.cause : undefined;
  }
}

/** What else the exchange knows about a failure besides the error itself. */
export interface FailureContext {
  /** Our caller's signal fired; its reason. */
  aborted?: { reason: unknown };
  /** The downstream went away: its request body errored, or the reader of the response body destroyed it. */
  downstreamGone?: boolean;
}

export interface Classification {
  code: EndpointErrorCode;
  responseFlag: UpstreamResponseFlag;
}

// undici's codes (UND_ERR_*, llhttp's HPE_*) and node:http2's (ERR_HTTP2_*), read as data.
const CLOSED_CODES: ReadonlySet<string> = new Set(['UND_ERR_DESTROYED', 'UND_ERR_CLOSED']);
const INVALID_REQUEST_CODES: ReadonlySet<string> = new Set(['UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH']);
const PROTOCOL_CODES: ReadonlySet<string> = new Set([
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_HEADERS_OVERFLOW',
  'ERR_HTTP2_PROTOCOL_ERROR',
  'ERR_HTTP2_INVALID_HEADER_VALUE',
  'ERR_HTTP2_STREAM_ERROR_PROTOCOL_ERROR',
]);

/** Which code and flag a failure gets; the order of the checks is the precedence. */
export function classifyUpstreamFailure(err: unknown, phase: ExchangePhase, context: FailureContext = {}): Classification {
  if (err instanceof EndpointError) return { code: err.code, responseFlag: err.responseFlag };
  // Our own abort first: undici reports it as whatever error tore the stream down.
  if (context.aborted !== undefined) {
    return { code: 'ERR_ENDPOINT_ABORTED', responseFlag: isTimeoutReason(context.aborted.reason) ? 'UT' : 'DC' };
  }
  if (context.downstreamGone === true) return { code: 'ERR_ENDPOINT_ABORTED', responseFlag: 'DC' };
  if (err instanceof HboneError) return { code: 'ERR_ENDPOINT_CONNECT', responseFlag: 'UF' };
  const code = errorCode(err);
  if (CLOSED_CODES.has(code)) return { code: 'ERR_ENDPOINT_CLOSED', responseFlag: 'LR' };
  if (INVALID_REQUEST_CODES.has(code)) return { code: 'ERR_ENDPOINT_INVALID_REQUEST', responseFlag: 'DPE' };
  // Nothing reached a connection: whatever broke, broke while connecting.
  if (!phase.requestSent) return { code: 'ERR_ENDPOINT_CONNECT', responseFlag: 'UF' };
  if (PROTOCOL_CODES.has(code) || code.startsWith('HPE_') || errorName(err) === 'HTTPParserError')
    return { code: 'ERR_ENDPOINT_PROTOCOL', responseFlag: 'UPE' };
  // undici tags an HTTP/2 stream error with its RST_STREAM code; when the session's socket went
  // (UND_ERR_SOCKET) the code is the one Node assigned locally, so that is the connection going
  // away under the request (for HTTP/1.1, always: the HBONE stream is the connection).
  const resetByPeer = typeof (err as { http2ErrorCode?: unknown } | null)?.http2ErrorCode === 'number' && code !== 'UND_ERR_SOCKET';
  return { code: 'ERR_ENDPOINT_RESET', responseFlag: resetByPeer ? 'UR' : 'UC' };
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

// undici's HTTPParserError has no code when llhttp's error number is not in its table.
function errorName(err: unknown): string {
  const name = (err as { name?: unknown } | null)?.name;
  return typeof name === 'string' ? name : '';
}

/** `AbortSignal.timeout()` and `new DOMException(msg, 'TimeoutError')` both carry this name. */
function isTimeoutReason(reason: unknown): boolean {
  return errorName(reason) === 'TimeoutError';
}

/** The EndpointError for a failure of the exchange described by `what` (`POST 10.0.0.1:8080/path`). */
export function endpointFailure(err: unknown, what: string, phase: ExchangePhase, context: FailureContext = {}): EndpointError {
  if (err instanceof EndpointError) {
    if (err.requestSent === phase.requestSent && err.responseStarted === phase.responseStarted) return err;
    // Raised where the phase was not known (inside the request body): the same failure, placed.
    return new EndpointError(err.code, err.message, { ...phase, responseFlag: err.responseFlag, cause: err.cause });
  }
  const { code, responseFlag } = classifyUpstreamFailure(err, phase, context);
  const reason = context.aborted !== undefined ? describeReason(context.aborted.reason) : err instanceof Error ? err.message : String(err);
  return new EndpointError(code, `upstream ${what}: ${endpointErrorCodes[code].summary}: ${reason}`, {
    ...phase,
    responseFlag,
    cause: context.aborted !== undefined ? context.aborted.reason : err,
  });
}

function describeReason(reason: unknown): string {
  if (reason instanceof Error) return reason.message;
  return reason === undefined ? 'aborted' : String(reason);
}

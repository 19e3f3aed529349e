// W3C Trace Context (https://www.w3.org/TR/trace-context/) and the request id, taken from the
// request headers once at the server boundary. The waypoint is one hop of the trace: it keeps
// the caller's trace id, becomes a span of its own (a new parent id toward the upstream) and
// passes tracestate on. It records no spans itself, so it never decides sampling: the sampled
// flag is the caller's, and a trace it starts is not sampled.
//
// Pure functions over the headers; the random source is injected so tests pin exact ids.
import { randomBytes, randomUUID } from 'node:crypto';
import type { HeaderMap } from '../http/request-facts.ts';

/** `digits` random lower-case hex digits. */
export type RandomSource = (digits: number) => string;

// One randomBytes call and one hex conversion per 4 KiB instead of per request; an id is then a
// slice of the pool string, which V8 makes without copying.
const POOL_BYTES = 4096;
let pool = '';
let poolOffset = 0;

export const cryptoRandom: RandomSource = (digits) => {
  if (poolOffset + digits > pool.length) {
    pool = randomBytes(Math.max(POOL_BYTES, Math.ceil(digits / 2))).toString('hex');
    poolOffset = 0;
  }
  return pool.slice(poolOffset, (poolOffset += digits));
};

export interface TraceContext {
  /** The traceparent to send upstream: version 00, the trace id, the waypoint's span id, the flags. */
  traceparent: string;
  /** The caller's tracestate, normalised; only with a valid parent. */
  tracestate?: string;
  traceId: string;
  /** The waypoint's span: the parent id the upstream sees. */
  spanId: string;
  /** The caller's span id; undefined when the waypoint started the trace. */
  parentSpanId?: string;
  sampled: boolean;
}

export interface Traceparent {
  traceId: string;
  parentId: string;
  /** The trace-flags byte. */
  flags: number;
}

const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);

// version "-" trace-id "-" parent-id "-" trace-flags: 2, 32, 16 and 2 lower-case hex digits.
const TRACEPARENT_LENGTH = 55;
const DASHES = [2, 35, 52];

/** A traceparent header value, or undefined when the spec says to ignore it. */
export function parseTraceparent(value: string): Traceparent | undefined {
  // Read by position rather than by regular expression: this runs on every request.
  if (value.length < TRACEPARENT_LENGTH) return undefined;
  for (let i = 0; i < TRACEPARENT_LENGTH; i++) {
    if (i === DASHES[0] || i === DASHES[1] || i === DASHES[2]) {
      if (value.charCodeAt(i) !== 0x2d) return undefined;
    } else if (!isLowerHex(value.charCodeAt(i))) return undefined;
  }
  const version = value.slice(0, 2);
  // 'ff' is forbidden; version 00 has exactly four fields; a later version may append fields
  // after a '-', and its first four are read as version 00's.
  if (version === 'ff') return undefined;
  if (value.length > TRACEPARENT_LENGTH && (version === '00' || value.charCodeAt(TRACEPARENT_LENGTH) !== 0x2d)) return undefined;
  const traceId = value.slice(3, 35);
  const parentId = value.slice(36, 52);
  if (traceId === ZERO_TRACE_ID || parentId === ZERO_SPAN_ID) return undefined;
  return { traceId, parentId, flags: Number.parseInt(value.slice(53, 55), 16) };
}

function isLowerHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66);
}

/** The trace context the waypoint sends upstream for a request carrying `headers`. */
export function propagateTrace(headers: HeaderMap, random: RandomSource = cryptoRandom): TraceContext {
  const header = headers.traceparent;
  // Two traceparent headers are as invalid as a malformed one.
  const parent = typeof header === 'string' ? parseTraceparent(header) : undefined;
  const spanId = nonZero(random(16));
  if (parent === undefined) {
    const traceId = nonZero(random(32));
    return { traceparent: `00-${traceId}-${spanId}-00`, traceId, spanId, sampled: false };
  }
  // Of the flags only `sampled` is defined (level 1); the others are reset, as the spec asks.
  const sampled = (parent.flags & 0x01) === 0x01;
  const ctx: TraceContext = {
    traceparent: `00-${parent.traceId}-${spanId}-${sampled ? '01' : '00'}`,
    traceId: parent.traceId,
    spanId,
    parentSpanId: parent.parentId,
    sampled,
  };
  const tracestate = normaliseTracestate(headers.tracestate);
  if (tracestate !== undefined) ctx.tracestate = tracestate;
  return ctx;
}

const MAX_MEMBERS = 32;
const MAX_TRACESTATE = 512;
const LONG_MEMBER = 128;
const TRACESTATE_KEY = /^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})$/;
const TRACESTATE_VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/**
 * tracestate as a list without blanks, or undefined when absent or not a valid list (a vendor
 * that cannot parse it must not pass on a part of it). Over 512 characters, members longer than
 * 128 go first, then members from the end, as the spec allows.
 */
export function normaliseTracestate(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const members: string[] = [];
  const keys = new Set<string>();
  for (const part of (Array.isArray(header) ? header.join(',') : header).split(',')) {
    const member = part.trim();
    if (member === '') continue;
    const eq = member.indexOf('=');
    if (eq <= 0) return undefined;
    const key = member.slice(0, eq);
    if (!TRACESTATE_KEY.test(key) || !TRACESTATE_VALUE.test(member.slice(eq + 1)) || keys.has(key)) return undefined;
    keys.add(key);
    members.push(member);
  }
  if (members.length === 0 || members.length > MAX_MEMBERS) return undefined;
  let length = members.reduce((n, m) => n + m.length, members.length - 1);
  while (length > MAX_TRACESTATE) {
    let drop = -1;
    for (let i = members.length - 1; i >= 0 && drop < 0; i--) if (members[i]!.length > LONG_MEMBER) drop = i;
    if (drop < 0) drop = members.length - 1;
    length -= members[drop]!.length + 1;
    members.splice(drop, 1);
  }
  return members.length > 0 ? members.join(',') : undefined;
}

const MAX_REQUEST_ID = 128;
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

/**
 * The request's x-request-id when it is one visible-ASCII token of at most 128 characters, else a
 * new UUID v4 (from `random` when given).
 */
export function requestId(headers: HeaderMap, random?: RandomSource): string {
  const id = headers['x-request-id'];
  if (typeof id === 'string' && id.length <= MAX_REQUEST_ID && VISIBLE_ASCII.test(id)) return id;
  if (random === undefined) return randomUUID();
  const h = random(32);
  // RFC 9562: version 4 in the 13th digit, variant 10xx in the 17th.
  const variant = ((Number.parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

// An all-zero id is invalid; a random one is all zero once in 2^64 at best, and a fixed test
// source must not loop, so the last digit is forced instead of drawing again.
function nonZero(id: string): string {
  return id === ZERO_TRACE_ID || id === ZERO_SPAN_ID ? id.slice(0, -1) + '1' : id;
}

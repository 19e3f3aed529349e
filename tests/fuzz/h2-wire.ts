// HTTP/2 written by hand, so the fuzzer can send what no conforming client would: frames of any
// type, flags, length (true or lying) and stream id, and header blocks with any names, values,
// order and pseudo-headers (HPACK literals without indexing, no Huffman: RFC 7541 §6.2.2).
import type { Duplex } from 'node:stream';
import fc from 'fast-check';
import { within } from './fuzz-harness.ts';

export const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export const frameType = {
  data: 0,
  headers: 1,
  priority: 2,
  rstStream: 3,
  settings: 4,
  pushPromise: 5,
  ping: 6,
  goaway: 7,
  windowUpdate: 8,
  continuation: 9,
} as const;
export const flag = { endStream: 0x1, ack: 0x1, endHeaders: 0x4, padded: 0x8, priority: 0x20 } as const;

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Uint8Array;
  /** The length the header declares; the payload's own when absent. */
  declaredLength?: number;
}

export function encodeFrame(f: Frame): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE((f.declaredLength ?? f.payload.length) & 0xffffff, 0, 3);
  head[3] = f.type & 0xff;
  head[4] = f.flags & 0xff;
  head.writeUInt32BE(f.streamId >>> 0, 5);
  return Buffer.concat([head, f.payload]);
}

/** An HPACK integer with an N-bit prefix (§5.1); `first` holds the bits above the prefix. */
function hpackInt(value: number, prefixBits: number, first: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

function hpackString(s: string | Uint8Array): Buffer {
  const bytes = typeof s === 'string' ? Buffer.from(s, 'latin1') : Buffer.from(s);
  return Buffer.concat([Buffer.from(hpackInt(bytes.length, 7, 0)), bytes]);
}

/** A header block of literal fields, in the order given (duplicates and all). */
export function encodeHeaderBlock(headers: ReadonlyArray<readonly [string, string]>): Buffer {
  return Buffer.concat(headers.flatMap(([name, value]) => [Buffer.from([0x00]), hpackString(name), hpackString(value)]));
}

export function settingsFrame(settings: ReadonlyArray<readonly [number, number]> = []): Buffer {
  const payload = Buffer.alloc(6 * settings.length);
  settings.forEach(([id, value], i) => {
    payload.writeUInt16BE(id & 0xffff, i * 6);
    payload.writeUInt32BE(value >>> 0, i * 6 + 2);
  });
  return encodeFrame({ type: frameType.settings, flags: 0, streamId: 0, payload });
}

export function headersFrame(streamId: number, headers: ReadonlyArray<readonly [string, string]>, flags = flag.endHeaders): Buffer {
  return encodeFrame({ type: frameType.headers, flags, streamId, payload: encodeHeaderBlock(headers) });
}

// ---- arbitraries ------------------------------------------------------------------------------

/** Stream ids a server must cope with: 0, small odd and even, the largest, and anything. */
export const streamIdArb = fc.oneof(fc.constantFrom(0, 1, 2, 3, 5, 0x7fffffff, 0xffffffff), fc.integer({ min: 0, max: 0xffffffff }));

/** One frame of any kind: known types most often, with flags, ids and lengths that may lie. */
export const frameArb: fc.Arbitrary<Frame> = fc.record({
  type: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 9 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  flags: fc.oneof(fc.constantFrom(0, 0x1, 0x4, 0x5, 0x8, 0x20, 0x2d, 0xff), fc.integer({ min: 0, max: 255 })),
  streamId: streamIdArb,
  payload: fc.oneof(
    { weight: 3, arbitrary: fc.uint8Array({ maxLength: 64 }) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 4, maxLength: 4 }) }, // WINDOW_UPDATE / RST_STREAM sized
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 8, maxLength: 8 }) }, // PING / GOAWAY sized
    { weight: 1, arbitrary: fc.nat({ max: 40_000 }).map((n) => new Uint8Array(n)) }, // over the default max frame size
  ),
  declaredLength: fc.option(fc.oneof(fc.nat({ max: 64 }), fc.constantFrom(0, 16_384, 16_385, 0xffffff)), { nil: undefined, freq: 12 }),
});

const tokenChars = 'abcdefghijklmnopqrstuvwxyz0123456789-';
const nameArb = fc.oneof(
  fc.constantFrom(
    ':method',
    ':authority',
    ':path',
    ':scheme',
    ':protocol',
    ':status',
    ':foo',
    ':',
    'host',
    'connection',
    'te',
    'transfer-encoding',
    'upgrade',
    'keep-alive',
  ),
  fc.string({ unit: fc.constantFrom(...tokenChars), minLength: 1, maxLength: 16 }),
  fc.string({ unit: 'binary-ascii', maxLength: 16 }), // upper case, spaces, controls, empty
);
const valueArb = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary-ascii', maxLength: 40 }), // CR, LF, NUL
  fc.nat({ max: 70_000 }).map((n) => 'v'.repeat(n)), // past the default header list size
);

/** `:authority` values a CONNECT may carry, odd forms first. */
export const authorityArb = fc.oneof(
  fc.constantFrom(
    '127.0.0.1:80',
    '10.0.0.9:80',
    '[::1]:80',
    '[::1]',
    '::1:80',
    '127.0.0.1',
    '127.0.0.1:',
    ':80',
    '127.0.0.1:0',
    '127.0.0.1:65536',
    '127.0.0.1:-1',
    '127.0.0.1:80:80',
    '127.1:80',
    '0x7f.0.0.1:80',
    '127.0.0.1:0080',
    '127.0.0.1:8 0',
    'user@127.0.0.1:80',
    'example.com:80',
    '[fe80::1%eth0]:80',
    '',
  ),
  fc.tuple(fc.ipV4Extended(), fc.integer({ min: -1, max: 70_000 })).map(([ip, port]) => `${ip}:${port}`),
  fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 65_535 })).map(([ip, port]) => `[${ip}]:${port}`),
  fc.string({ maxLength: 64 }),
  fc.nat({ max: 20_000 }).map((n) => `${'9'.repeat(n)}:80`),
);

/** A CONNECT-ish header list: the right pseudo-headers perhaps, then hostile extras. */
export const connectHeadersArb: fc.Arbitrary<Array<[string, string]>> = fc
  .record({
    method: fc.option(fc.constantFrom('CONNECT', 'GET', 'connect', 'POST', '', 'CONNECT '), { nil: undefined }),
    authority: fc.option(authorityArb, { nil: undefined }),
    extras: fc.array(fc.tuple(nameArb, valueArb), { maxLength: 8 }),
    shuffleSeed: fc.nat(),
  })
  .map(({ method, authority, extras, shuffleSeed }) => {
    const list: Array<[string, string]> = [];
    if (method !== undefined) list.push([':method', method]);
    if (authority !== undefined) list.push([':authority', authority]);
    list.push(...extras);
    // Pseudo-headers after regular ones are malformed too: sometimes rotate the list.
    const r = list.length > 1 && shuffleSeed % 4 === 0 ? shuffleSeed % list.length : 0;
    return [...list.slice(r), ...list.slice(0, r)];
  });

/** A header block as HEADERS then CONTINUATION frames of at most 16 KiB each. */
export function headerFrames(streamId: number, headers: ReadonlyArray<readonly [string, string]>, endStream: boolean): Buffer {
  const block = encodeHeaderBlock(headers);
  const max = 16_384;
  const frames: Buffer[] = [];
  for (let at = 0; at === 0 || at < block.length; at += max) {
    const last = at + max >= block.length;
    const type = at === 0 ? frameType.headers : frameType.continuation;
    const flags = (last ? flag.endHeaders : 0) | (at === 0 && endStream ? flag.endStream : 0);
    frames.push(encodeFrame({ type, flags, streamId, payload: block.subarray(at, at + max) }));
  }
  return Buffer.concat(frames);
}

/** Reads the frames a peer sends, calling `onFrame` for each whole one. */
export function frameReader(onFrame: (type: number, flags: number, streamId: number, payload: Buffer) => void): (chunk: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0);
  return (chunk) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    while (buf.length >= 9) {
      const length = buf.readUIntBE(0, 3);
      if (buf.length < 9 + length) return;
      onFrame(buf[3]!, buf[4]!, buf.readUInt32BE(5) & 0x7fffffff, buf.subarray(9, 9 + length));
      buf = buf.subarray(9 + length);
    }
  };
}

/**
 * Opens a connection (`connect`: mTLS h2, or a stream inside one), writes the preface, our SETTINGS, `bytes` and a PING. The
 * server must either close the connection or answer the PING: a session it neither ends nor
 * serves is a hang. When the bytes declare more than they carry (`honest` false) the server is
 * owed bytes it will wait for, so only "no crash" is asked of it.
 */
export function h2Exchange(connect: () => Duplex, bytes: Buffer, honest: boolean, what: string): Promise<void> {
  const socket = connect();
  socket.on('error', () => {});
  const opaque = Buffer.from('fuzzping');
  const answered = new Promise<void>((resolve) => {
    const read = frameReader((type, flags, _id, payload) => {
      if (type === frameType.ping && flags & 1 && payload.equals(opaque)) resolve();
    });
    socket.on('data', read);
    // The peer ending its side is an answer too (a CONNECT stream stays half-open).
    socket.once('end', () => resolve());
    socket.once('close', () => resolve());
  });
  const ping = encodeFrame({ type: frameType.ping, flags: 0, streamId: 0, payload: opaque });
  socket.write(Buffer.concat([preface, settingsFrame(), bytes, ping]));
  const done = honest
    ? within(5000, `the server answering or closing after ${what}`, answered)
    : Promise.race([answered, new Promise((r) => setTimeout(r, 100))]);
  return done.then(() => void socket.destroy()).finally(() => socket.destroy());
}

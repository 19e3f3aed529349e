// The protobuf form of (Self)SubjectAccessReview, decoded to the JSON shape. kubectl ≥1.3x
// sends `kubectl auth can-i`'s review as protobuf (typed client), and this server carries no
// general protobuf schema: these few messages are small enough to read by field number
// (k8s.io/api/authorization/v1/generated.proto).
import { badRequest } from '../apimachinery/errors.ts';

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]); // "k8s\0", kube's protobuf envelope prefix

type Fields = Map<number, Buffer[]>;

/** A review body in kube's protobuf envelope → `{apiVersion, kind, spec}` as JSON would carry it. */
export function decodeAccessReviewProtobuf(raw: Buffer): Record<string, unknown> {
  if (raw.length < MAGIC.length || !raw.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw badRequest('the protobuf body does not start with the "k8s\\x00" envelope prefix');
  }
  const unknown = fields(raw.subarray(MAGIC.length));
  const typeMeta = fields(one(unknown, 1));
  const review = fields(one(unknown, 2));
  const spec = fields(one(review, 2));
  const out: Record<string, unknown> = {};
  const res = spec.get(1)?.[0];
  if (res) {
    const r = fields(res);
    const attrs: Record<string, string> = {};
    const names = ['namespace', 'verb', 'group', 'version', 'resource', 'subresource', 'name'];
    for (let i = 0; i < names.length; i++) {
      const v = r.get(i + 1)?.[0];
      if (v) attrs[names[i]!] = v.toString('utf8');
    }
    out.resourceAttributes = attrs;
  }
  const nonRes = spec.get(2)?.[0];
  if (nonRes) {
    const n = fields(nonRes);
    out.nonResourceAttributes = { path: text(n, 1), verb: text(n, 2) };
  }
  // SubjectAccessReviewSpec only: the subject under review.
  if (spec.has(3)) out.user = text(spec, 3);
  if (spec.has(4)) out.groups = spec.get(4)!.map((b) => b.toString('utf8'));
  if (spec.has(6)) out.uid = text(spec, 6);
  return { apiVersion: text(typeMeta, 1), kind: text(typeMeta, 2), spec: out };
}

function one(f: Fields, n: number): Buffer {
  return f.get(n)?.[0] ?? Buffer.alloc(0);
}

function text(f: Fields, n: number): string {
  return one(f, n).toString('utf8');
}

/** The length-delimited fields of one message, by number (varints and fixed fields skipped). */
function fields(buf: Buffer): Fields {
  const out: Fields = new Map();
  let pos = 0;
  const varint = (): number => {
    let value = 0;
    let shift = 0;
    for (;;) {
      if (pos >= buf.length) throw badRequest(`truncated protobuf varint at byte ${pos}`);
      const b = buf[pos++]!;
      value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return value;
      shift += 7;
      if (shift > 63) throw badRequest(`protobuf varint too long at byte ${pos}`);
    }
  };
  while (pos < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) varint();
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const len = varint();
      if (pos + len > buf.length) throw badRequest(`protobuf field ${field} of ${len} bytes overruns the body at byte ${pos}`);
      const list = out.get(field) ?? [];
      list.push(buf.subarray(pos, pos + len));
      out.set(field, list);
      pos += len;
    } else throw badRequest(`unsupported protobuf wire type ${wire} for field ${field}`);
  }
  if (pos > buf.length) throw badRequest('truncated protobuf body');
  return out;
}

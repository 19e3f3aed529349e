// Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`) ⇄ the JSON shape this
// server stores. On the wire: the 4 bytes "k8s\0", then a runtime.Unknown whose typeMeta names
// the kind and whose raw holds the object's message. The JSON mapping is Kubernetes', not
// protobuf's: field names are the same, but embedded structs are inlined, maps are objects,
// and a few apimachinery types marshal as strings or numbers (Time, Quantity, IntOrString).
//
// A zero scalar ("", 0, false) reads as unset, which is how a Go server reads a non-pointer
// field and what `omitempty` does in JSON; the wire does not say whether a Go field was a
// pointer, so an explicit zero in a pointer field (`replicas: 0` on create) is also dropped.
import protobuf from 'protobufjs';
import { badRequest } from './errors.ts';
import { fullName, type KubeProtoSchema } from './kube-proto-schema.ts';

export const KUBE_PROTOBUF = 'application/vnd.kubernetes.protobuf';
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]); // "k8s\0"
const META = 'k8s.io.apimachinery.pkg.apis.meta.v1';
const UNKNOWN = 'k8s.io.apimachinery.pkg.runtime.Unknown';

type Json = Record<string, unknown>;
const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, defaults: false, arrays: false, objects: false };

/** A protobuf request body → the object as JSON would carry it (kind and apiVersion first). */
export function decodeKubeProtobuf(schema: KubeProtoSchema, raw: Uint8Array): Json {
  if (raw.length < MAGIC.length || !MAGIC.equals(raw.subarray(0, MAGIC.length))) {
    throw badRequest('the protobuf body does not start with the "k8s\\x00" envelope prefix');
  }
  const unknown = decodeMessage(schema.root.lookupType(UNKNOWN), raw.subarray(MAGIC.length), 'the envelope');
  const typeMeta = (unknown.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  const apiVersion = typeMeta.apiVersion ?? '';
  const kind = typeMeta.kind ?? '';
  if (unknown.contentEncoding) throw badRequest(`unsupported protobuf content encoding ${JSON.stringify(unknown.contentEncoding)}`);
  const type = schema.typeOf(apiVersion, kind);
  if (!type) throw badRequest(`no protobuf message is known for kind ${JSON.stringify(kind)} in ${JSON.stringify(apiVersion)}`);
  const message = decodeMessage(type, (unknown.raw as Uint8Array | undefined) ?? new Uint8Array(0), `${kind} ${apiVersion}`);
  const object = messageToJson(schema, type, message) as Json;
  return { kind, apiVersion, ...object };
}

function decodeMessage(type: protobuf.Type, bytes: Uint8Array, what: string): Json {
  try {
    return type.toObject(type.decode(bytes), TO_OBJECT) as Json;
  } catch (err) {
    throw badRequest(`malformed protobuf in ${what}: ${(err as Error).message}`, { cause: err });
  }
}

/** apimachinery types whose JSON form is not their message's (they have MarshalJSON in Go). */
const SPECIAL: Record<string, (m: Json, schema: KubeProtoSchema) => unknown> = {
  [`${META}.Time`]: (m) => timestamp(m, false),
  [`${META}.MicroTime`]: (m) => timestamp(m, true),
  [`${META}.Duration`]: (m) => (m.duration ? goDuration(Number(m.duration)) : undefined),
  [`${META}.FieldsV1`]: (m) => embeddedJson(m.Raw),
  'k8s.io.apimachinery.pkg.api.resource.Quantity': (m) => m.string || undefined,
  'k8s.io.apimachinery.pkg.util.intstr.IntOrString': (m) => (m.type === 1 ? m.strVal || undefined : m.intVal || undefined),
  'k8s.io.apimachinery.pkg.runtime.RawExtension': (m, schema) => {
    const raw = m.raw as Uint8Array | undefined;
    if (raw && raw.length >= MAGIC.length && MAGIC.equals(raw.subarray(0, MAGIC.length))) return decodeKubeProtobuf(schema, raw);
    return embeddedJson(raw);
  },
};

function messageToJson(schema: KubeProtoSchema, type: protobuf.Type, message: Json): unknown {
  const name = fullName(type);
  const special = SPECIAL[name];
  if (special) return special(message, schema);
  // `type Verbs []string` and the like: go-to-protobuf wraps a named slice in a message.
  if (type.fieldsArray.length === 1 && type.fieldsArray[0]!.name === 'items' && type.fieldsArray[0]!.repeated) {
    return ((message.items as unknown[] | undefined) ?? []).map((v) => valueToJson(schema, type.fieldsArray[0]!, v, true));
  }
  const out: Json = {};
  for (const field of type.fieldsArray) {
    const value = message[field.name];
    if (value === undefined || value === null) continue;
    const json = fieldToJson(schema, field, value);
    if (json === undefined) continue;
    if (schema.inline.has(`${name}.${field.name}`) && isObject(json)) Object.assign(out, json);
    else out[field.name] = json;
  }
  return out;
}

function fieldToJson(schema: KubeProtoSchema, field: protobuf.Field, value: unknown): unknown {
  if (!field.repeated) return valueToJson(schema, field, value, false);
  const items = value as unknown[];
  const entry = field.resolvedType;
  if (entry instanceof protobuf.Type && entry.options?.map_entry) {
    // Proto maps arrive as repeated {key, value}: JSON has an object, and keeps empty values.
    const valueField = entry.fields.value!;
    const map: Json = {};
    for (const item of items as Json[]) map[String(item.key ?? '')] = valueToJson(schema, valueField, item.value, true) ?? '';
    return items.length > 0 ? map : undefined;
  }
  return items.length > 0 ? items.map((v) => valueToJson(schema, field, v, true)) : undefined;
}

function valueToJson(schema: KubeProtoSchema, field: protobuf.Field, value: unknown, keepZero: boolean): unknown {
  if (field.resolvedType instanceof protobuf.Type) return messageToJson(schema, field.resolvedType, (value ?? {}) as Json);
  if (field.type === 'bytes') {
    const bytes = value as Uint8Array;
    return bytes.length > 0 || keepZero ? Buffer.from(bytes).toString('base64') : undefined;
  }
  if (!keepZero && (value === '' || value === 0 || value === false)) return undefined;
  return value;
}

/** meta/v1 Time: RFC 3339 in seconds, UTC; MicroTime keeps microseconds. Zero → unset. */
function timestamp(m: Json, micro: boolean): string | undefined {
  const seconds = Number(m.seconds ?? 0);
  const nanos = Number(m.nanos ?? 0);
  if (seconds === 0 && nanos === 0) return undefined;
  const iso = new Date(seconds * 1000).toISOString().slice(0, 19);
  return micro ? `${iso}.${String(Math.floor(nanos / 1000)).padStart(6, '0')}Z` : `${iso}Z`;
}

/** Go's time.Duration.String() for the values Kubernetes carries (whole units and fractions of a second). */
export function goDuration(nanos: number): string {
  if (nanos === 0) return '0s';
  const sign = nanos < 0 ? '-' : '';
  let n = Math.abs(nanos);
  if (n < 1e3) return `${sign}${n}ns`;
  if (n < 1e6) return `${sign}${trimFraction(n / 1e3)}µs`;
  if (n < 1e9) return `${sign}${trimFraction(n / 1e6)}ms`;
  const hours = Math.floor(n / 3.6e12);
  n -= hours * 3.6e12;
  const minutes = Math.floor(n / 6e10);
  n -= minutes * 6e10;
  const seconds = `${trimFraction(n / 1e9)}s`;
  if (hours > 0) return `${sign}${hours}h${minutes}m${seconds}`;
  if (minutes > 0) return `${sign}${minutes}m${seconds}`;
  return `${sign}${seconds}`;
}

function trimFraction(v: number): string {
  return v.toFixed(9).replace(/\.?0+$/, '');
}

function embeddedJson(raw: unknown): unknown {
  const bytes = raw as Uint8Array | undefined;
  if (!bytes || bytes.length === 0) return undefined;
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw badRequest(`an embedded object in the protobuf body is not JSON: ${(err as Error).message}`, { cause: err });
  }
}

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

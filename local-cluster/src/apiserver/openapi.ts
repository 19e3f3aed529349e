// Minimal OpenAPI documents. kubectl downloads them to validate manifests client-side and to
// find strategic-merge metadata; a document without definitions makes it skip schema checks
// (the server validates anyway) and fall back to its compiled-in patch metadata.
// kubectl 1.20 asks for the v2 document as protobuf (gnostic's openapi_v2.Document).

const INFO = { title: 'Kubernetes', version: 'v1.34.0' };

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

/** A length-delimited protobuf field (wire type 2). */
function field(no: number, body: Buffer): Buffer {
  return Buffer.concat([varint((no << 3) | 2), varint(body.length), body]);
}

/** openapi_v2.Document{swagger: "2.0", info: {title, version}, paths: {}}. */
export function openApiV2Protobuf(): Buffer {
  const info = Buffer.concat([field(1, Buffer.from(INFO.title)), field(2, Buffer.from(INFO.version))]);
  return Buffer.concat([field(1, Buffer.from('2.0')), field(2, info), field(8, Buffer.alloc(0))]);
}

export function openApiV2Json(): Record<string, unknown> {
  return { swagger: '2.0', info: INFO, paths: {}, definitions: {} };
}

/** The /openapi/v3 index: no group-version documents. */
export function openApiV3Index(): Record<string, unknown> {
  return { paths: {} };
}

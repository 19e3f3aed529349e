// Reads and decodes request bodies: JSON, YAML (apply-patch) or Kubernetes protobuf (kubectl
// ≥1.32's typed clients: `kubectl create namespace`, `run`, `expose`, `auth can-i`...).
import type { IncomingMessage } from 'node:http';
import { load as loadYaml } from 'js-yaml';
import { ApiError, badRequest } from '../apimachinery/errors.ts';
import { decodeKubeProtobuf, KUBE_PROTOBUF } from '../apimachinery/kube-proto-codec.ts';
import type { KubeProtoSchema } from '../apimachinery/kube-proto-schema.ts';

const MAX_BODY = 16 * 1024 * 1024;

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new ApiError('BadRequest', `request body too large: more than ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * Parses a body by its Content-Type; malformed input → 400 with the parser's message. A
 * protobuf body is read with the schema `protobufSchema` loads (it throws when it cannot).
 */
export function decodeBody(raw: Buffer, contentType: string | undefined, protobufSchema?: () => KubeProtoSchema): unknown {
  if (raw.length === 0) return undefined;
  const type = (contentType ?? 'application/json').split(';')[0]!.trim().toLowerCase();
  if (type === KUBE_PROTOBUF && protobufSchema) return decodeKubeProtobuf(protobufSchema(), raw);
  if (type.includes('protobuf') || type.includes('cbor')) {
    throw new ApiError(
      'UnsupportedMediaType',
      `the body of the request was in an unknown format (${type}) - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf`,
    );
  }
  const text = raw.toString('utf8');
  if (text.trim() === '') return undefined;
  if (type.includes('yaml')) {
    try {
      // Aliases bounded, as Kubernetes did after CVE-2019-11253: a few hundred bytes of nested
      // aliases would otherwise expand to millions of values and block the server for seconds.
      // With at most 20 the worst nesting stays in the thousands; manifests rarely use any.
      return loadYaml(text, { maxAliases: 20 } as Parameters<typeof loadYaml>[1]);
    } catch (err) {
      throw badRequest(`error converting YAML to JSON: ${(err as Error).message}`, { cause: err });
    }
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(`couldn't get version/kind; json parse error: ${(err as Error).message}`, { cause: err });
  }
}

// Where the API server gets Kubernetes' protobuf message definitions: out of the kubectl 1.34
// binary scripts/fetch-kubectl.sh puts in the repository's cache (see kube-proto-schema.ts).
// Loaded on the first protobuf body (~0.4 s), then kept.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ApiError } from '../apimachinery/errors.ts';
import { type KubeProtoSchema, kubeProtoSchemaFromBinary } from '../apimachinery/kube-proto-schema.ts';

export const DEFAULT_PROTOBUF_SCHEMA_SOURCE = resolve(import.meta.dirname, '../../../.cache/kubectl/v1.34/kubectl');

/**
 * A loader that reads the schema once. Until it can, each call throws a 415; a failed read is
 * tried again only once the binary changed (fetched since), not on every protobuf body.
 */
export function protobufSchemaLoader(source: string): () => KubeProtoSchema {
  let schema: KubeProtoSchema | undefined;
  let failed: { mtimeMs: number; err: Error } | undefined;
  return () => {
    if (schema) return schema;
    const mtimeMs = statSync(source, { throwIfNoEntry: false })?.mtimeMs ?? -1;
    if (failed?.mtimeMs !== mtimeMs) {
      try {
        schema = kubeProtoSchemaFromBinary(source);
        return schema;
      } catch (err) {
        failed = { mtimeMs, err: err as Error };
      }
    }
    throw new ApiError(
      'UnsupportedMediaType',
      `this server reads protobuf bodies with the Kubernetes message definitions in ${source}, which could not be loaded (${failed!.err.message}); run 'bash scripts/fetch-kubectl.sh' or send application/json`,
      undefined,
      { cause: failed!.err },
    );
  };
}

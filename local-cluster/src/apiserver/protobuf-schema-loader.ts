// Where the API server gets Kubernetes' protobuf message definitions: out of the kubectl 1.34
// binary scripts/fetch-kubectl.sh puts in the repository's cache (see kube-proto-schema.ts).
// Loaded on the first protobuf body (~0.4 s), then kept.
import { resolve } from 'node:path';
import { ApiError } from '../apimachinery/errors.ts';
import { type KubeProtoSchema, kubeProtoSchemaFromBinary } from '../apimachinery/kube-proto-schema.ts';

export const DEFAULT_PROTOBUF_SCHEMA_SOURCE = resolve(import.meta.dirname, '../../../.cache/kubectl/v1.34/kubectl');

/** A loader that reads the schema once; until it can (the binary missing), each call throws a 415. */
export function protobufSchemaLoader(source: string): () => KubeProtoSchema {
  let schema: KubeProtoSchema | undefined;
  return () => {
    if (schema) return schema;
    try {
      schema = kubeProtoSchemaFromBinary(source);
    } catch (err) {
      throw new ApiError(
        'UnsupportedMediaType',
        `this server reads protobuf bodies with the Kubernetes message definitions in ${source}, which could not be loaded (${(err as Error).message}); run 'bash scripts/fetch-kubectl.sh' or send application/json`,
        undefined,
        { cause: err },
      );
    }
    return schema;
  };
}

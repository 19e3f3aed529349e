// RFC 6902 operations as the injection webhook answers them (`patchType: JSONPatch`), and RFC
// 6901 pointers: a key such as `sidecar.istio.io/status` holds a `/`, which a pointer must
// write as `~1` (and `~` as `~0`), or the API server would look for a nested object.

export type JsonPatchOperation = { op: 'add' | 'replace' | 'test'; path: string; value: unknown } | { op: 'remove'; path: string };

/** One reference token of a JSON pointer. */
export function escapePointerToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** A JSON pointer from its unescaped tokens: pointer('metadata', 'labels', 'a/b') is /metadata/labels/a~1b. */
export function pointer(...tokens: (string | number)[]): string {
  return tokens.map((t) => `/${escapePointerToken(String(t))}`).join('');
}

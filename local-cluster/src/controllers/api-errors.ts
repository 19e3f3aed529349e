// Status codes of client-node's ApiException, for the few outcomes controllers tolerate.
export function statusCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

export function isNotFound(err: unknown): boolean { return statusCode(err) === 404; }
export function isConflict(err: unknown): boolean { return statusCode(err) === 409; }

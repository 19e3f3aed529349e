// What a failed client-node call says: its HTTP status and the API server's own message.

export function statusCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** The Status message of an ApiException when there is one (it names the object), else the error's. */
export function errorText(err: unknown): string {
  const body = (err as { body?: unknown } | undefined)?.body;
  if (typeof body === 'string') {
    try {
      const message = (JSON.parse(body) as { message?: unknown }).message;
      if (typeof message === 'string') return message;
    } catch { /* not a Status */ }
  }
  return err instanceof Error ? err.message : String(err);
}

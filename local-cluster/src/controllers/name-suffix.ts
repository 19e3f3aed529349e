// Names the way Kubernetes controllers make them: suffixes from an alphabet without vowels
// (no accidental words) and without look-alike characters.
import { createHash, randomInt } from 'node:crypto';

const ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

export function randomSuffix(length = 5): string {
  let s = '';
  for (let i = 0; i < length; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return s;
}

/** A stable short hash of any JSON value (keys sorted), e.g. a pod template. */
export function stableHash(value: unknown, length = 10): string {
  const digest = createHash('sha256').update(canonicalJson(value)).digest();
  let s = '';
  for (let i = 0; i < length; i++) s += ALPHABET[digest[i]! % ALPHABET.length];
  return s;
}

export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)) {
      return Object.fromEntries(
        Object.entries(v as Record<string, unknown>)
          .filter(([, x]) => x !== undefined && x !== null)
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      );
    }
    return v;
  });
}

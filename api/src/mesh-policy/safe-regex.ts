// Regexes a policy carries run in the waypoint on every matching request, against values the
// client chooses (headers, path). Istio's Envoy runs RE2, which has no backtracking; V8 does
// backtrack, so what RE2 refuses (lookaround, backreferences) is refused here too, and so is the
// classic exponential shape: a group holding an unbounded repetition that is itself repeated
// (`(a+)+`, `(\w*)*`, `(x+){2,}`). That check is a heuristic (an alternation of overlapping
// branches under a star still backtracks); the length cap and the 16 KiB header limit bound
// what remains. One check for every policy kind that takes a regex.

/** Longer patterns are refused: they are config, not data. */
export const MAX_REGEX_LENGTH = 1024;

/** Why a policy's regex is refused (too long, a construct RE2 lacks, exponential backtracking), or undefined. */
export function regexProblem(pattern: string): string | undefined {
  if (pattern.length > MAX_REGEX_LENGTH) return `a regular expression of ${pattern.length} characters, over ${MAX_REGEX_LENGTH}`;
  return unsafeRegexConstruct(pattern);
}

const quantifierAt = /\{(\d+)(,(\d*))?\}/y;

/** Why `pattern` is refused, or undefined. Scans JavaScript regex syntax. */
export function unsafeRegexConstruct(pattern: string): string | undefined {
  // One frame per open group: whether an unbounded repetition occurs inside it.
  const groups: boolean[] = [false];
  let i = 0;
  /** The repetition at `i`, if any: 'unbounded' (*, +, {n,}), 'many' ({n,m} with m > 1), 'optional' (?, {0,1}, {n}), and its length. */
  const quantifier = (at: number): { kind: 'unbounded' | 'many' | 'optional'; length: number } | undefined => {
    const c = pattern[at];
    if (c === '*' || c === '+') return { kind: 'unbounded', length: pattern[at + 1] === '?' ? 2 : 1 };
    if (c === '?') return { kind: 'optional', length: pattern[at + 1] === '?' ? 2 : 1 };
    if (c !== '{') return undefined;
    quantifierAt.lastIndex = at;
    const m = quantifierAt.exec(pattern);
    if (m === null) return undefined; // a literal "{" (non-unicode syntax)
    const lazy = pattern[at + m[0].length] === '?' ? 1 : 0;
    const kind = m[2] === undefined ? 'optional' : m[3] === '' ? 'unbounded' : Number(m[3]) > 1 ? 'many' : 'optional';
    return { kind, length: m[0].length + lazy };
  };
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '\\') {
      const next = pattern[i + 1];
      if (next !== undefined && next >= '1' && next <= '9') return 'backreferences are not supported (RE2)';
      if (next === 'k' && pattern[i + 2] === '<') return 'backreferences are not supported (RE2)';
      i += 2;
    } else if (c === '[') {
      // A character class: skip to its closing bracket (escapes inside included).
      i++;
      while (i < pattern.length && pattern[i] !== ']') i += pattern[i] === '\\' ? 2 : 1;
      i++;
    } else if (c === '(') {
      if (pattern.startsWith('(?=', i) || pattern.startsWith('(?!', i) || pattern.startsWith('(?<=', i) || pattern.startsWith('(?<!', i)) {
        return 'lookahead and lookbehind are not supported (RE2)';
      }
      groups.push(false);
      i++;
      continue;
    } else if (c === ')') {
      const inner = groups.length > 1 ? groups.pop()! : false;
      i++;
      const q = quantifier(i);
      if (q !== undefined) {
        if (inner && q.kind !== 'optional') return 'a repeated group containing an unbounded repetition can backtrack exponentially';
        if (inner || q.kind === 'unbounded') groups[groups.length - 1] = true;
        i += q.length;
      } else if (inner) {
        groups[groups.length - 1] = true;
      }
      continue;
    } else {
      i++;
    }
    const q = quantifier(i);
    if (q !== undefined) {
      if (q.kind === 'unbounded') groups[groups.length - 1] = true;
      i += q.length;
    }
  }
  return undefined;
}

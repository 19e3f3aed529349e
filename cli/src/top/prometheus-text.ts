// Prometheus text exposition (format 0.0.4, what prom-client renders at the proxies' /metrics)
// read into plain samples. `top` only needs names, labels and values, so HELP and TYPE lines are
// skipped with the other comments, and a histogram arrives as its _bucket/_sum/_count samples.
//
// Why a line that does not parse is skipped rather than failing the scrape: `top` refreshes from
// many proxies, and one odd line (a newer proxy's syntax, a truncated body) should cost that line
// only, not a proxy's whole row.

/** One sample line: `name{labels} value`. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Every sample line of `text` in order; comments, blank lines and malformed lines are left out. Never throws. */
export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const sample = parseLine(line);
    if (sample !== undefined) out.push(sample);
  }
  return out;
}

const METRIC_NAME = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const LABEL_NAME = /[a-zA-Z_][a-zA-Z0-9_]*/y;
const BLANKS = /[ \t]*/y;
// Go's strconv.ParseFloat, which Prometheus uses, minus hex and underscores: prom-client writes
// neither, and Number() alone would take '', '0x10' and 'Infinity' too.
const FLOAT = /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)$/i;
// Milliseconds in the 0.0.4 format; OpenMetrics writes seconds with a fraction.
const TIMESTAMP = /^-?\d+(?:\.\d+)?$/;

function parseLine(line: string): Sample | undefined {
  let i = skipBlanks(line, 0);
  if (i >= line.length || line[i] === '#' || line[i] === '\r') return undefined;
  const name = token(METRIC_NAME, line, i);
  if (name === undefined) return undefined;
  i += name.length;
  let labels: Record<string, string> = {};
  if (line[i] === '{') {
    const set = parseLabelSet(line, i + 1);
    if (set === undefined) return undefined;
    labels = set.labels;
    i = set.end;
  }
  const value = parseValueAndTimestamp(line.slice(i));
  return value === undefined ? undefined : { name, labels, value };
}

/**
 * `<blank> value [<blank> timestamp]`, optionally followed by an OpenMetrics exemplar
 * (` # {trace_id="…"} 1`), which `top` has no use for. The label set is already consumed, so the
 * first '#' here can only start an exemplar.
 */
function parseValueAndTimestamp(rest: string): number | undefined {
  if (rest[0] !== ' ' && rest[0] !== '\t') return undefined;
  const hash = rest.indexOf('#');
  const fields = (hash === -1 ? rest : rest.slice(0, hash)).trim().split(/[ \t]+/);
  if (fields.length > 2 || (fields.length === 2 && !TIMESTAMP.test(fields[1]!))) return undefined;
  return parseFloatValue(fields[0]!);
}

function parseFloatValue(s: string): number | undefined {
  if (!FLOAT.test(s)) return undefined;
  const lower = s.toLowerCase();
  if (lower.endsWith('nan')) return Number.NaN;
  if (lower.includes('inf')) return lower.startsWith('-') ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  return Number(s);
}

/** The labels from just after '{' to just after the matching '}'; undefined if malformed or a name repeats. */
function parseLabelSet(line: string, start: number): { labels: Record<string, string>; end: number } | undefined {
  // Entries, then Object.fromEntries: a label named __proto__ becomes an own property instead of
  // a prototype assignment that would silently drop it.
  const entries: [string, string][] = [];
  const seen = new Set<string>();
  let i = skipBlanks(line, start);
  while (line[i] !== '}') {
    const name = token(LABEL_NAME, line, i);
    if (name === undefined || seen.has(name)) return undefined;
    seen.add(name);
    i = skipBlanks(line, i + name.length);
    if (line[i] !== '=') return undefined;
    i = skipBlanks(line, i + 1);
    if (line[i] !== '"') return undefined;
    const value = parseQuoted(line, i + 1);
    if (value === undefined) return undefined;
    entries.push([name, value.text]);
    i = skipBlanks(line, value.end);
    // A trailing comma before '}' is allowed, as Prometheus allows it.
    if (line[i] === ',') i = skipBlanks(line, i + 1);
    else if (line[i] !== '}') return undefined;
  }
  return { labels: Object.fromEntries(entries), end: i + 1 };
}

/**
 * A label value from just after its opening quote to just after its closing one. The format
 * escapes only `\\`, `\"` and `\n`; another backslash pair is kept as written, as Prometheus's
 * own parser keeps it.
 */
function parseQuoted(line: string, start: number): { text: string; end: number } | undefined {
  let text = '';
  for (let i = start; i < line.length; i++) {
    const c = line[i]!;
    if (c === '"') return { text, end: i + 1 };
    if (c !== '\\') {
      text += c;
      continue;
    }
    const next = line[++i];
    if (next === undefined) return undefined;
    text += next === 'n' ? '\n' : next === '\\' || next === '"' ? next : `\\${next}`;
  }
  return undefined;
}

function token(re: RegExp, line: string, at: number): string | undefined {
  re.lastIndex = at;
  return re.exec(line)?.[0];
}

function skipBlanks(line: string, at: number): number {
  BLANKS.lastIndex = at;
  BLANKS.exec(line);
  return BLANKS.lastIndex;
}

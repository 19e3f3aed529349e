// What every subcommand prints: a table (kubectl's style: upper-case headers, columns padded
// with three spaces), or the same rows as JSON or YAML for scripts. Colour only on a terminal
// and never when NO_COLOR is set (https://no-color.org).
import { dump as toYaml } from 'js-yaml';

export type OutputFormat = 'table' | 'json' | 'yaml';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'json', 'yaml'];

export interface Column<T> {
  header: string;
  value: (row: T) => string | number | undefined;
}

/** Rows as text in `format`: a table from `columns`, or `data` (default: the rows) as JSON/YAML. */
export function render<T>(rows: T[], columns: Column<T>[], format: OutputFormat, data: unknown = rows): string {
  if (format === 'json') return `${JSON.stringify(data, null, 2)}\n`;
  if (format === 'yaml') return toYaml(data, { noRefs: true, lineWidth: -1 });
  return table(
    columns.map((c) => c.header.toUpperCase()),
    rows.map((r) => columns.map((c) => String(c.value(r) ?? '-'))),
  );
}

/** kubectl's table layout; an empty list says so instead of printing bare headers. */
export function table(headers: string[], cells: string[][]): string {
  if (cells.length === 0) return 'No resources found.\n';
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((row) => visibleLength(row[i] ?? ''))));
  const line = (row: string[]) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat(widths[i]! - visibleLength(cell) + 3)))
      .join('')
      .trimEnd();
  return `${[line(headers), ...cells.map(line)].join('\n')}\n`;
}

// ANSI SGR sequences do not take up columns.
function visibleLength(s: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI escape sequences is the point
  return s.replace(/\u001b\[[0-9;]*m/g, '').length;
}

export interface Palette {
  ok(s: string): string;
  bad(s: string): string;
  warn(s: string): string;
  dim(s: string): string;
}

/** Colours for a stream: none unless it is a terminal and NO_COLOR is unset or empty. */
export function paletteFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Palette {
  const on = stream.isTTY === true && !env.NO_COLOR;
  const sgr = (code: number) => (s: string) => (on ? `\u001b[${code}m${s}\u001b[0m` : s);
  return { ok: sgr(32), bad: sgr(31), warn: sgr(33), dim: sgr(2) };
}

// Table responses (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), which is what
// `kubectl get` asks for: server-side columns, so custom resources print their
// additionalPrinterColumns and built-in kinds print like the real API server's.

import { age } from './human-duration.ts';
import { jsonPathResults } from './json-path.ts';
import { builtinPrinter, column, nameColumn, type Printer } from './table-printers.ts';
import type { KubeObject, PrinterColumn, ResourceInfo } from './types.ts';

export { evalJsonPath } from './json-path.ts';

function jsonValueCell(type: string, value: unknown, now: Date): unknown {
  switch (type) {
    case 'integer':
      return typeof value === 'number' ? Math.trunc(value) : null;
    case 'number':
      return typeof value === 'number' ? value : null;
    case 'boolean':
      return typeof value === 'boolean' ? value : null;
    case 'date':
      return typeof value === 'string' ? age(value, now) : null;
    default:
      // kubectl's jsonpath printer: strings raw, everything else as JSON.
      return typeof value === 'string' ? value : JSON.stringify(value);
  }
}

function columnsPrinter(columns: PrinterColumn[]): Printer {
  return {
    columns: [nameColumn, ...columns.map((c) => column(c.name, c.type, c.priority ?? 0, c.format ?? '', c.description ?? ''))],
    cells(o, now) {
      const cells: unknown[] = [o.metadata.name];
      for (const c of columns) {
        let results: unknown[];
        try {
          results = jsonPathResults(o, c.jsonPath);
        } catch {
          results = []; // a CRD's bad jsonPath blanks its cell rather than failing the list
        }
        cells.push(results.length === 0 || results[0] === null ? null : jsonValueCell(c.type, results[0], now));
      }
      return cells;
    },
  };
}

function printerFor(resource: ResourceInfo): Printer {
  if (resource.printerColumns === undefined) return builtinPrinter(resource.kind);
  // A CRD without columns gets Age, as apiextensions-apiserver serves it.
  const columns: PrinterColumn[] =
    resource.printerColumns.length > 0 ? resource.printerColumns : [{ name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }];
  return columnsPrinter(columns);
}

export function toTable(
  resource: ResourceInfo,
  objects: KubeObject[],
  opts: { includeObject: 'None' | 'Metadata' | 'Object'; now: Date; listMeta: { resourceVersion?: string; continue?: string; remainingItemCount?: number } },
): Record<string, unknown> {
  const printer = printerFor(resource);
  const metadata: Record<string, string | number> = {};
  if (opts.listMeta.resourceVersion !== undefined) metadata.resourceVersion = opts.listMeta.resourceVersion;
  if (opts.listMeta.continue) metadata.continue = opts.listMeta.continue;
  if (opts.listMeta.remainingItemCount !== undefined) metadata.remainingItemCount = opts.listMeta.remainingItemCount;
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata,
    columnDefinitions: printer.columns,
    rows: objects.map((o) => {
      const row: Record<string, unknown> = { cells: printer.cells(o, opts.now) };
      if (opts.includeObject === 'Object') row.object = o;
      else if (opts.includeObject === 'Metadata') row.object = { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata };
      return row;
    }),
  };
}

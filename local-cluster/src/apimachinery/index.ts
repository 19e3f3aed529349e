// Pure Kubernetes API machinery: selectors, patches, apply, tables, schemas, resource types.

export * from './types.ts';
export * from './errors.ts';
export * from './label-selector.ts';
export * from './field-selector.ts';
export * from './merge-patch.ts';
export * from './strategic-merge-patch.ts';
export * from './json-patch.ts';
export * from './server-side-apply.ts';
export * from './table.ts';
export * from './json-path.ts';
export * from './human-duration.ts';
export * from './schema-validate.ts';
export * from './builtin-resources.ts';
export * from './patch-meta.ts';
export * from './field-set.ts';

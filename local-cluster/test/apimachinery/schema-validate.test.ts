import assert from 'node:assert/strict';
import { pruneUnknownFields, validateAgainstSchema } from '../../src/apimachinery/schema-validate.ts';
import type { KubeObject } from '../../src/apimachinery/types.ts';

const schema = {
  type: 'object',
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    spec: {
      type: 'object',
      required: ['mode'],
      properties: {
        replicas: { type: 'integer', minimum: 0, maximum: 10 },
        mode: { type: 'string', enum: ['STRICT', 'PERMISSIVE'] },
        name: { type: 'string', minLength: 1, maxLength: 5, pattern: '^[a-z]+$' },
        port: { 'x-kubernetes-int-or-string': true },
        ratio: { type: 'number' },
        enabled: { type: 'boolean' },
        note: { type: 'string', nullable: true },
        when: { type: 'string', format: 'date-time' },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
        extra: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        rules: {
          type: 'array',
          minItems: 1,
          maxItems: 2,
          items: {
            type: 'object',
            required: ['to'],
            properties: { to: { type: 'array', items: { type: 'object', properties: { port: { type: 'integer' } } } } },
          },
        },
      },
    },
  },
  required: ['spec'],
};

const cr = (spec: unknown): KubeObject => ({ apiVersion: 'x.io/v1', kind: 'Policy', metadata: { name: 'p' }, spec });

describe('validateAgainstSchema', () => {
  it('accepts a valid object, int-or-string both ways, null where nullable', () => {
    const ok = cr({
      mode: 'STRICT',
      replicas: 3,
      name: 'abc',
      port: 'http',
      ratio: 0.5,
      enabled: true,
      note: null,
      when: '2025-01-01T00:00:00Z',
      labels: { a: 'b' },
      extra: { anything: [1] },
      rules: [{ to: [{ port: 80 }] }],
    });
    assert.deepEqual(validateAgainstSchema(ok, schema), []);
    assert.deepEqual(validateAgainstSchema(cr({ mode: 'STRICT', port: 8080 }), schema), []);
  });

  const cases: [string, unknown, { field: string; reason: string; message: string }[]][] = [
    [
      'a type mismatch',
      { mode: 'STRICT', replicas: 'two' },
      [
        {
          field: 'spec.replicas',
          reason: 'FieldValueTypeInvalid',
          message: 'Invalid value: "string": spec.replicas in body must be of type integer: "string"',
        },
      ],
    ],
    ['a missing required field', { replicas: 1 }, [{ field: 'spec.mode', reason: 'FieldValueRequired', message: 'Required value' }]],
    [
      'a value outside the enum',
      { mode: 'LOOSE' },
      [{ field: 'spec.mode', reason: 'FieldValueNotSupported', message: 'Unsupported value: "LOOSE": supported values: "STRICT", "PERMISSIVE"' }],
    ],
    [
      'a number below the minimum',
      { mode: 'STRICT', replicas: -1 },
      [{ field: 'spec.replicas', reason: 'FieldValueInvalid', message: 'Invalid value: -1: spec.replicas in body should be greater than or equal to 0' }],
    ],
    [
      'a number above the maximum',
      { mode: 'STRICT', replicas: 11 },
      [{ field: 'spec.replicas', reason: 'FieldValueInvalid', message: 'Invalid value: 11: spec.replicas in body should be less than or equal to 10' }],
    ],
    [
      'a fraction where an integer is required',
      { mode: 'STRICT', replicas: 1.5 },
      [
        {
          field: 'spec.replicas',
          reason: 'FieldValueTypeInvalid',
          message: 'Invalid value: "number": spec.replicas in body must be of type integer: "number"',
        },
      ],
    ],
    [
      'too short, too long and off pattern strings',
      { mode: 'STRICT', name: '' },
      [
        { field: 'spec.name', reason: 'FieldValueInvalid', message: 'Invalid value: "": spec.name in body should be at least 1 chars long' },
        { field: 'spec.name', reason: 'FieldValueInvalid', message: 'Invalid value: "": spec.name in body should match \'^[a-z]+$\'' },
      ],
    ],
    [
      'a string over maxLength',
      { mode: 'STRICT', name: 'abcdef' },
      [{ field: 'spec.name', reason: 'FieldValueTooLong', message: 'Too long: may not be longer than 5' }],
    ],
    [
      'int-or-string given a boolean',
      { mode: 'STRICT', port: true },
      [
        {
          field: 'spec.port',
          reason: 'FieldValueTypeInvalid',
          message: 'Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"',
        },
      ],
    ],
    [
      'null where not nullable',
      { mode: 'STRICT', ratio: null },
      [{ field: 'spec.ratio', reason: 'FieldValueTypeInvalid', message: 'Invalid value: "null": spec.ratio in body must be of type number: "null"' }],
    ],
    [
      'a bad date-time',
      { mode: 'STRICT', when: 'yesterday' },
      [{ field: 'spec.when', reason: 'FieldValueInvalid', message: 'Invalid value: "yesterday": spec.when in body must be of type date-time: "yesterday"' }],
    ],
    [
      'a wrong map value type',
      { mode: 'STRICT', labels: { a: 1 } },
      [
        {
          field: 'spec.labels.a',
          reason: 'FieldValueTypeInvalid',
          message: 'Invalid value: "integer": spec.labels.a in body must be of type string: "integer"',
        },
      ],
    ],
    [
      'errors inside nested arrays',
      { mode: 'STRICT', rules: [{ to: [{ port: 80 }, { port: 'x' }] }, {}] },
      [
        {
          field: 'spec.rules[0].to[1].port',
          reason: 'FieldValueTypeInvalid',
          message: 'Invalid value: "string": spec.rules[0].to[1].port in body must be of type integer: "string"',
        },
        { field: 'spec.rules[1].to', reason: 'FieldValueRequired', message: 'Required value' },
      ],
    ],
    [
      'too few items',
      { mode: 'STRICT', rules: [] },
      [{ field: 'spec.rules', reason: 'FieldValueInvalid', message: 'Invalid value: 0: spec.rules in body should have at least 1 items' }],
    ],
    [
      'too many items',
      { mode: 'STRICT', rules: [{ to: [] }, { to: [] }, { to: [] }] },
      [{ field: 'spec.rules', reason: 'FieldValueTooMany', message: 'Too many: 3: must have at most 2 items' }],
    ],
    [
      'an array where an object belongs',
      [],
      [{ field: 'spec', reason: 'FieldValueTypeInvalid', message: 'Invalid value: "array": spec in body must be of type object: "array"' }],
    ],
  ];
  for (const [name, spec, expected] of cases) {
    it(`reports ${name}`, () => assert.deepEqual(validateAgainstSchema(cr(spec), schema), expected));
  }

  it('reports a missing required top-level field but never validates apiVersion, kind or metadata', () => {
    const noSpec = { apiVersion: 1, kind: 'Policy', metadata: { name: 'p' } } as unknown as KubeObject;
    assert.deepEqual(validateAgainstSchema(noSpec, { ...schema, required: ['spec', 'apiVersion', 'kind', 'metadata'] }), [
      { field: 'spec', reason: 'FieldValueRequired', message: 'Required value' },
    ]);
  });
});

describe('pruneUnknownFields', () => {
  it('drops undeclared fields, keeps apiVersion/kind/metadata and preserve-unknown subtrees', () => {
    const obj: KubeObject = {
      ...cr({ mode: 'STRICT', typo: 1, extra: { free: { form: true } }, labels: { a: 'b' }, rules: [{ to: [{ port: 1, junk: 2 }], junk: 3 }] }),
      status: { x: 1 },
    };
    const pruned = pruneUnknownFields(obj, schema);
    assert.deepEqual(pruned, {
      apiVersion: 'x.io/v1',
      kind: 'Policy',
      metadata: { name: 'p' },
      spec: { mode: 'STRICT', extra: { free: { form: true } }, labels: { a: 'b' }, rules: [{ to: [{ port: 1 }] }] },
    });
    assert.equal((obj.spec as Record<string, unknown>).typo, 1, 'input untouched');
  });

  it('keeps everything under a root that preserves unknown fields', () => {
    const obj = cr({ anything: 1 });
    assert.deepEqual(pruneUnknownFields(obj, { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }), obj);
  });
});

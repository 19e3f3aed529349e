// An in-process mesh CA for the identity tests: istiod-lite's CreateCertificate over TLS on
// 127.0.0.1:0, signing with signCsr. Tests count calls, see the metadata and make it misbehave.
import * as grpc from '@grpc/grpc-js';
import { createCertificateAuthority, issueCertificate, parseCsr, signCsr, type KeyCertPair } from '../index.ts';
import { certificateServiceDefinition, type CaCertificateRequest, type CertificateServiceHandlers } from '../grpc.ts';

export type CaBehaviour =
  | { kind: 'sign'; validitySeconds?: number }
  | { kind: 'fail'; code: grpc.status; message: string }
  | { kind: 'wrong-identity'; uri: string }
  | { kind: 'other-root' }
  | { kind: 'other-key' };

export interface CaCall {
  request: CaCertificateRequest;
  authorization: string | undefined;
}

export class TestCaServer {
  readonly ca: KeyCertPair;
  readonly otherCa: KeyCertPair;
  readonly calls: CaCall[] = [];
  behaviour: CaBehaviour = { kind: 'sign' };
  address = '';
  readonly #server = new grpc.Server();

  constructor() {
    this.ca = createCertificateAuthority({ commonName: 'test mesh root', organization: 'cluster.local' });
    this.otherCa = createCertificateAuthority({ commonName: 'another root', organization: 'cluster.local' });
  }

  async start(): Promise<void> {
    const serving = issueCertificate({ ca: this.ca, commonName: 'istiod', dnsNames: ['istiod.istio-system.svc'], validityDays: 1 });
    const handlers: CertificateServiceHandlers = {
      CreateCertificate: (call, callback) => {
        const header = call.metadata.get('authorization')[0];
        this.calls.push({ request: call.request, authorization: typeof header === 'string' ? header : undefined });
        try {
          callback(null, { certChain: this.#answer(call.request) });
        } catch (err) {
          const e = err as { code?: grpc.status; message: string };
          callback({ code: e.code ?? grpc.status.INTERNAL, details: e.message });
        }
      },
    };
    this.#server.addService(certificateServiceDefinition, handlers);
    const credentials = grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(serving.certPem), private_key: Buffer.from(serving.keyPem) }], false);
    const port = await new Promise<number>((resolve, reject) => {
      this.#server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p)));
    });
    this.address = `127.0.0.1:${port}`;
  }

  #answer(request: CaCertificateRequest): string[] {
    const b = this.behaviour;
    const csrPem = request.csr ?? '';
    const validitySeconds = Number(request.validityDuration ?? 0) || 86400;
    // A caller asking for itself sends no impersonated identity: the CSR's own SAN is what it wants.
    const uris = request.impersonatedIdentity ? [request.impersonatedIdentity] : parseCsr(csrPem).uris;
    switch (b.kind) {
      case 'fail':
        throw Object.assign(new Error(b.message), { code: b.code });
      case 'wrong-identity':
        return [signCsr({ ca: this.ca, csrPem, uris: [b.uri], validitySeconds }), this.ca.certPem];
      case 'other-root':
        return [signCsr({ ca: this.otherCa, csrPem, uris, validitySeconds }), this.otherCa.certPem];
      case 'other-key': {
        parseCsr(csrPem);
        return [issueCertificate({ ca: this.ca, commonName: '', uris, validitySeconds }).certPem, this.ca.certPem];
      }
      case 'sign':
        return [signCsr({ ca: this.ca, csrPem, uris, validitySeconds: b.validitySeconds ?? validitySeconds }), this.ca.certPem];
    }
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.tryShutdown(() => resolve()));
    this.#server.forceShutdown();
  }
}

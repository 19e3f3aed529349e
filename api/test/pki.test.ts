import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { createCertificateAuthority, createCsr, issueCertificate, parseCsr, PkiError, signCsr, signParsedCsr } from '../src/pki.ts';
import type { KeyCertPair } from '../src/pki.ts';

const SPIFFE_WEB = 'spiffe://cluster.local/ns/default/sa/web';

function tamper(pem: string, from: string, to: string): string {
  const der = Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const at = der.indexOf(from);
  assert.ok(at >= 0, `${from} not found in der`);
  der.write(to, at, 'latin1');
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
}

describe('pki', () => {
  let ca: KeyCertPair;
  let server: KeyCertPair;
  let dir: string;

  before(() => {
    ca = createCertificateAuthority({ commonName: 'ambient root', organization: 'ambient' });
    server = issueCertificate({
      ca,
      commonName: 'localhost',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1', '::1'],
      uris: [SPIFFE_WEB],
    });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pki-test-'));
    fs.writeFileSync(path.join(dir, 'ca.pem'), ca.certPem);
  });

  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('createCertificateAuthority', () => {
    it('creates a self-signed v3 CA with an EC P-256 PKCS#8 key', () => {
      const cert = new crypto.X509Certificate(ca.certPem);
      assert.equal(cert.ca, true);
      assert.equal(cert.subject, 'O=ambient\nCN=ambient root');
      assert.equal(cert.issuer, cert.subject);
      assert.ok(cert.verify(cert.publicKey));
      assert.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
      const key = crypto.createPrivateKey(ca.keyPem);
      assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
      assert.ok(cert.checkPrivateKey(key));
      const years = (Date.parse(cert.validTo) - Date.now()) / (365 * 86400_000);
      assert.ok(years > 9.9 && years < 10.1, `ca validity ${years} years`);
    });
  });

  describe('issueCertificate', () => {
    it('issues a leaf that verifies against the CA key and with openssl verify', () => {
      const leaf = new crypto.X509Certificate(server.certPem);
      assert.equal(leaf.ca, false);
      assert.ok(leaf.verify(new crypto.X509Certificate(ca.certPem).publicKey));
      assert.ok(leaf.checkIssued(new crypto.X509Certificate(ca.certPem)));
      fs.writeFileSync(path.join(dir, 'leaf.pem'), server.certPem);
      const out = execFileSync('openssl', ['verify', '-CAfile', path.join(dir, 'ca.pem'), path.join(dir, 'leaf.pem')], { encoding: 'utf8' });
      assert.match(out, /leaf\.pem: OK/);
    });

    it('is rejected by openssl verify against a different CA', () => {
      const other = createCertificateAuthority({ commonName: 'ambient root' });
      fs.writeFileSync(path.join(dir, 'other.pem'), other.certPem);
      fs.writeFileSync(path.join(dir, 'leaf2.pem'), server.certPem);
      assert.throws(() => execFileSync('openssl', ['verify', '-CAfile', path.join(dir, 'other.pem'), path.join(dir, 'leaf2.pem')], { stdio: 'pipe' }));
    });

    it('puts DNS, IP and URI SANs in a form TLS name checks accept', () => {
      const leaf = new crypto.X509Certificate(server.certPem);
      assert.equal(leaf.checkIP('127.0.0.1'), '127.0.0.1');
      assert.equal(leaf.checkIP('::1'), '::1');
      assert.equal(leaf.checkIP('10.0.0.1'), undefined);
      assert.equal(leaf.checkHost('localhost'), 'localhost');
      assert.equal(leaf.checkHost('example.com'), undefined);
      assert.ok(leaf.subjectAltName?.split(', ').includes(`URI:${SPIFFE_WEB}`), leaf.subjectAltName);
      assert.equal(tls.checkServerIdentity('localhost', leaf.toLegacyObject()), undefined);
    });

    it('sets a 16-byte positive serial, a notBefore 5 minutes back and the requested validity', () => {
      const pair = issueCertificate({ ca, commonName: 'short', dnsNames: ['short'], validitySeconds: 3600 });
      const cert = new crypto.X509Certificate(pair.certPem);
      assert.match(cert.serialNumber, /^[0-7][0-9A-F]{31}$/);
      const back = Date.now() - Date.parse(cert.validFrom);
      assert.ok(back > 4 * 60_000 && back < 6 * 60_000, `notBefore ${back} ms ago`);
      const ahead = Date.parse(cert.validTo) - Date.now();
      assert.ok(ahead > 3590_000 && ahead <= 3600_000, `notAfter ${ahead} ms ahead`);
    });

    it('reuses a given key and honours the server/client flags', () => {
      const key = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      const pair = issueCertificate({ ca, commonName: 'client-only', keyPem: key, isServer: false });
      const cert = new crypto.X509Certificate(pair.certPem);
      assert.ok(cert.checkPrivateKey(crypto.createPrivateKey(key)));
      assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
    });

    it('refuses a CA key that does not belong to the CA certificate', () => {
      const other = createCertificateAuthority({ commonName: 'other' });
      assert.throws(
        () => issueCertificate({ ca: { certPem: ca.certPem, keyPem: other.keyPem }, commonName: 'x' }),
        (err: unknown) => err instanceof PkiError && /ca key does not match/.test(err.message),
      );
    });

    it('completes a mutually authenticated TLS 1.3 handshake', async () => {
      const client = issueCertificate({ ca, commonName: 'client', uris: ['spiffe://cluster.local/ns/default/sa/client'], isServer: false });
      const srv = tls.createServer(
        {
          key: server.keyPem,
          cert: server.certPem,
          ca: ca.certPem,
          requestCert: true,
          rejectUnauthorized: true,
          minVersion: 'TLSv1.3',
        },
        (socket) => {
          const peer = socket.getPeerX509Certificate();
          socket.end(peer?.subjectAltName ?? 'none');
        },
      );
      try {
        await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
        const { port } = srv.address() as AddressInfo;
        const { reply, protocol, authorized } = await new Promise<{ reply: string; protocol: string | null; authorized: boolean }>((resolve, reject) => {
          const socket = tls.connect({ host: '127.0.0.1', port, ca: ca.certPem, key: client.keyPem, cert: client.certPem }, () => {
            let reply = '';
            socket.setEncoding('utf8');
            socket.on('data', (d: string) => {
              reply += d;
            });
            socket.on('end', () => resolve({ reply, protocol: socket.getProtocol(), authorized: socket.authorized }));
          });
          socket.on('error', reject);
        });
        assert.equal(protocol, 'TLSv1.3');
        assert.equal(authorized, true);
        assert.equal(reply, 'URI:spiffe://cluster.local/ns/default/sa/client');
      } finally {
        await new Promise((resolve) => srv.close(resolve));
      }
    });
  });

  describe('CSRs', () => {
    const workloadKey = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

    it('round-trips SANs and a valid self-signature', () => {
      const csr = createCsr({ keyPem: workloadKey, uris: [SPIFFE_WEB], dnsNames: ['web.default.svc'] });
      assert.match(csr, /^-----BEGIN CERTIFICATE REQUEST-----\n/);
      const parsed = parseCsr(csr);
      assert.equal(parsed.signatureValid, true);
      assert.deepEqual(parsed.uris, [SPIFFE_WEB]);
      assert.deepEqual(parsed.dnsNames, ['web.default.svc']);
      assert.equal(parsed.commonName, undefined);
      const expected = crypto.createPublicKey(workloadKey).export({ type: 'spki', format: 'pem' });
      assert.equal(parsed.publicKeyPem, expected);
      assert.equal(parsed.keyType, 'ec');
      assert.equal(parsed.namedCurve, 'prime256v1');
    });

    it('reads the common name and is accepted by openssl req -verify', () => {
      const csr = createCsr({ keyPem: workloadKey, commonName: 'web' });
      assert.equal(parseCsr(csr).commonName, 'web');
      fs.writeFileSync(path.join(dir, 'csr.pem'), csr);
      const out = execFileSync('openssl', ['req', '-in', path.join(dir, 'csr.pem'), '-noout', '-verify'], { encoding: 'utf8', stdio: 'pipe' });
      assert.equal(out, '');
    });

    it('reports an invalid signature for a tampered CSR', () => {
      const csr = createCsr({ keyPem: workloadKey, uris: [SPIFFE_WEB] });
      const tampered = tamper(csr, '/sa/web', '/sa/adm');
      const parsed = parseCsr(tampered);
      assert.deepEqual(parsed.uris, ['spiffe://cluster.local/ns/default/sa/adm']);
      assert.equal(parsed.signatureValid, false);
      assert.throws(
        () => signCsr({ ca, csrPem: tampered, validitySeconds: 3600 }),
        (err: unknown) => err instanceof PkiError && err.code === 'ERR_PKI_INVALID_CSR_SIGNATURE',
      );
    });

    for (const [name, input] of [
      ['not pem', 'hello'],
      ['the wrong pem label', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'],
      ['a non-base64 body', '-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n'],
      ['garbage der', '-----BEGIN CERTIFICATE REQUEST-----\nMIIBAAAA\n-----END CERTIFICATE REQUEST-----\n'],
      ['a truncated csr', ''],
    ] as const) {
      it(`throws a clear error on ${name}`, () => {
        let pem: string = input;
        if (name === 'a truncated csr') {
          const lines = createCsr({ keyPem: workloadKey, uris: [SPIFFE_WEB] }).split('\n');
          pem = [...lines.slice(0, 3), lines.at(-2), ''].join('\n');
        }
        assert.throws(
          () => parseCsr(pem),
          (err: unknown) => err instanceof PkiError && err.code === 'ERR_PKI_MALFORMED_CSR' && /^malformed csr: /.test(err.message),
        );
      });
    }

    it('signs a workload certificate for the CSR key with the SANs the CA chooses', () => {
      const csr = createCsr({ keyPem: workloadKey, uris: ['spiffe://cluster.local/ns/default/sa/requested'] });
      const certPem = signCsr({ ca, csrPem: csr, uris: [SPIFFE_WEB], validitySeconds: 24 * 3600 });
      const cert = new crypto.X509Certificate(certPem);
      assert.equal(cert.subjectAltName, `URI:${SPIFFE_WEB}`);
      assert.ok(!cert.subject, `subject ${cert.subject} should be empty`);
      assert.ok(cert.checkPrivateKey(crypto.createPrivateKey(workloadKey)));
      assert.ok(cert.verify(new crypto.X509Certificate(ca.certPem).publicKey));
      const hours = (Date.parse(cert.validTo) - Date.now()) / 3600_000;
      assert.ok(hours > 23.9 && hours <= 24, `ttl ${hours} h`);
      fs.writeFileSync(path.join(dir, 'svid.pem'), certPem);
      const text = execFileSync('openssl', ['x509', '-in', path.join(dir, 'svid.pem'), '-noout', '-text'], { encoding: 'utf8' });
      assert.match(text, /Subject Alternative Name: critical/);
      assert.match(execFileSync('openssl', ['verify', '-CAfile', path.join(dir, 'ca.pem'), path.join(dir, 'svid.pem')], { encoding: 'utf8' }), /OK/);
    });

    it('signs a CSR parsed once (signParsedCsr), and refuses one whose signature did not verify', () => {
      const parsed = parseCsr(createCsr({ keyPem: workloadKey, uris: [SPIFFE_WEB] }));
      const cert = new crypto.X509Certificate(signParsedCsr({ ca, csr: parsed, validitySeconds: 60 }));
      assert.equal(cert.subjectAltName, `URI:${SPIFFE_WEB}`);
      assert.ok(cert.checkPrivateKey(crypto.createPrivateKey(workloadKey)));
      assert.throws(
        () => signParsedCsr({ ca, csr: { ...parsed, signatureValid: false }, validitySeconds: 60 }),
        (err: unknown) => err instanceof PkiError && err.code === 'ERR_PKI_INVALID_CSR_SIGNATURE',
      );
    });

    it('signs with the CA a KeyCertPair holds now, when the same object is given another CA (issuer cache)', () => {
      const csr = createCsr({ keyPem: workloadKey, uris: [SPIFFE_WEB] });
      const other = createCertificateAuthority({ commonName: 'other root' });
      const signer = { ...ca };
      const first = new crypto.X509Certificate(signCsr({ ca: signer, csrPem: csr, validitySeconds: 60 }));
      assert.ok(first.verify(new crypto.X509Certificate(ca.certPem).publicKey));
      Object.assign(signer, other);
      const second = new crypto.X509Certificate(signCsr({ ca: signer, csrPem: csr, validitySeconds: 60 }));
      assert.ok(second.verify(new crypto.X509Certificate(other.certPem).publicKey), 'signed by the new CA');
      assert.equal(second.issuer, new crypto.X509Certificate(other.certPem).subject);
    });

    it('keeps the CSR SANs when the CA passes none', () => {
      const csr = createCsr({ keyPem: workloadKey, uris: [SPIFFE_WEB] });
      const cert = new crypto.X509Certificate(signCsr({ ca, csrPem: csr, validitySeconds: 60 }));
      assert.equal(cert.subjectAltName, `URI:${SPIFFE_WEB}`);
    });
  });
});

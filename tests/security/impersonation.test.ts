// The impersonation suite, the attacks that need no cluster: each run as an attacker would, end
// to end against the real components as deployed. istiod-lite is its own process with its CA on
// gRPC over TLS, asked with real ServiceAccount tokens the embedded API server mints (pod-bound,
// with the node claim, as projected tokens are); the HBONE server is @ambient/hbone's, with real
// TLS 1.3, presenting a certificate that CA issued and trusting only its root. Each attack is
// tried in many shapes; every attempt must be refused with its specific reason, and a healthy
// request beside it must succeed, so the test fails if the refusal came from a broken setup.
// The attacks that need pods, netns and ztunnel (a spoofed :authority, plaintext under STRICT)
// are in tests/e2e/impersonation.test.ts.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import tls from 'node:tls';
import crypto from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { createCertificateAuthority, createCsr, issueCertificate, type KeyCertPair } from '@ambient/api';
import { grpcCaClient } from '@ambient/api/proxy-runtime';
import { createHboneServer, type ConnectionRefusal, type HboneServer } from '@ambient/hbone';
import { type ControlPlane, ensureWorkload, startControlPlane } from '../fuzz/control-plane.ts';
import { connectTcp, startEchoApp, type EchoApp } from './echo-app.ts';
import { opensslSign } from './openssl-sign.ts';

const SERVER_NAME = 'istiod.istio-system.svc';
const id = (ns: string, sa: string): string => `spiffe://cluster.local/ns/${ns}/sa/${sa}`;
const newKey = (): string => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

/** What a CreateCertificate call came to: OK, or the gRPC status and the CA's message. */
interface CaAnswer {
  code: grpc.status;
  details: string;
  chain: string[];
}

/** The credentials a TLS client presents: its key and its chain, leaf first. */
interface Presented {
  keyPem: string;
  chainPem: string;
}

/** One attempt's outcome as the attacker sees it, and the server's record of it. */
interface HboneAttempt {
  status: number | undefined;
  error: string | undefined;
  echoed: string | undefined;
}

/** Counts attempts and refusals per case, for one summary line each (the README's table). */
const tallies: Array<{ attack: string; tried: number; refused: number; reasons: Map<string, number> }> = [];
function tally(attack: string): { tried: number; refused: number; reasons: Map<string, number> } {
  const t = { attack, tried: 0, refused: 0, reasons: new Map<string, number>() };
  tallies.push(t);
  return t;
}

describe('impersonation: istiod-lite CA and the HBONE server, attacked end to end', function () {
  this.timeout(60_000);
  let cp: ControlPlane;
  let tokens: Record<'ztunnelNode1' | 'ztunnelUnbound' | 'app' | 'server' | 'healthy', string>;
  const clients: Array<{ close(): void }> = [];

  /** CreateCertificate as the token's owner, over the real gRPC channel. */
  async function ask(token: string, csrPem: string, impersonated = '', ttl = 3600): Promise<CaAnswer> {
    const ca = grpcCaClient({ address: cp.grpcAddress, rootCertPem: cp.rootCertPem, servername: SERVER_NAME, token: () => token });
    clients.push(ca);
    try {
      return { code: grpc.status.OK, details: '', chain: await ca.createCertificate(csrPem, ttl, impersonated) };
    } catch (err) {
      const cause = (err as { cause?: grpc.ServiceError }).cause;
      if (cause?.code === undefined) throw err;
      return { code: cause.code, details: cause.details, chain: [] };
    }
  }

  /** A key and the chain the real CA issues for it (leaf → root). */
  async function issued(token: string, identity: string, ttl = 3600, impersonated = ''): Promise<Presented> {
    const keyPem = newKey();
    const answer = await ask(token, createCsr({ keyPem, uris: [identity] }), impersonated, ttl);
    assert.equal(answer.code, grpc.status.OK, `the CA refused ${identity}: ${answer.details}`);
    return { keyPem, chainPem: answer.chain.join('') };
  }

  before(async function () {
    this.timeout(90_000);
    cp = await startControlPlane();
    const workloads: Array<Parameters<typeof ensureWorkload>[1]> = [
      { namespace: 'istio-system', sa: 'ztunnel', pod: 'ztunnel-node-1', node: 'node-1', ip: '10.244.1.2' },
      { namespace: 'istio-system', sa: 'ztunnel', pod: 'ztunnel-node-2', node: 'node-2', ip: '10.244.2.2' },
      // node-1: the attacking ztunnel's own pods (its healthy control) and the pod token's owner.
      { namespace: 'fuzz', sa: 'default', pod: 'app', node: 'node-1', ip: '10.244.1.3' },
      { namespace: 'healthy', sa: 'default', pod: 'healthy', node: 'node-1', ip: '10.244.1.4' },
      // node-2 only: what the node-1 ztunnel must never get.
      { namespace: 'shop', sa: 'web', pod: 'web', node: 'node-2', ip: '10.244.2.3' },
      { namespace: 'shop', sa: 'db', pod: 'db', node: 'node-2', ip: '10.244.2.4' },
      { namespace: 'billing', sa: 'default', pod: 'billing', node: 'node-2', ip: '10.244.2.5' },
      { namespace: 'fuzz', sa: 'other', pod: 'other', node: 'node-2', ip: '10.244.2.6' },
      { namespace: 'ghost', sa: 'nobody' },
      { namespace: 'hbone', sa: 'server' },
    ];
    for (const w of workloads) await ensureWorkload(cp, w);
    tokens = {
      ztunnelNode1: await cp.token('istio-system', 'ztunnel', 'ztunnel-node-1'),
      ztunnelUnbound: await cp.token('istio-system', 'ztunnel'),
      app: await cp.token('fuzz', 'default', 'app'),
      server: await cp.token('hbone', 'server'),
      healthy: await cp.token('healthy', 'default', 'healthy'),
    };
  });

  after(async () => {
    for (const c of clients) c.close();
    for (const t of tallies) {
      const reasons = [...t.reasons].map(([r, n]) => `${r} ${n}`).join(', ');
      console.log(`      ${t.attack}: ${t.refused} of ${t.tried} refused (${reasons})`);
    }
    await cp?.close();
  });

  describe('the CA', () => {
    it('refuses a node-1 ztunnel every identity that has no pod on node-1, and grants it one that has', async () => {
      const t = tally('ztunnel token of node-1 asks for identities on node-2');
      const attempts: Array<{ identity: string; token: string; ttl: number; reason: RegExp }> = [];
      const elsewhere = [id('shop', 'web'), id('shop', 'db'), id('billing', 'default'), id('fuzz', 'other'), id('ghost', 'nobody')];
      for (const identity of elsewhere) {
        for (const ttl of [0, 60, 3600, 86_400]) attempts.push({ identity, token: tokens.ztunnelNode1, ttl, reason: / has no pod on node node-1$/ });
      }
      // A ztunnel token not bound to its pod proves no node at all.
      for (const identity of [id('fuzz', 'default'), id('shop', 'web')])
        attempts.push({ identity, token: tokens.ztunnelUnbound, ttl: 3600, reason: /is not bound to a pod, so its node is unknown/ });
      for (const a of attempts) {
        const answer = await ask(a.token, createCsr({ keyPem: newKey(), uris: [a.identity] }), a.identity, a.ttl);
        t.tried++;
        assert.equal(answer.code, grpc.status.PERMISSION_DENIED, `${a.identity} (ttl ${a.ttl}) answered ${grpc.status[answer.code]}: ${answer.details}`);
        assert.match(answer.details, a.reason, `${a.identity}: ${answer.details}`);
        t.refused++;
        t.reasons.set('PERMISSION_DENIED', (t.reasons.get('PERMISSION_DENIED') ?? 0) + 1);
      }
      assert.equal(t.refused, t.tried);
      assert.ok(t.tried >= 20);
      // The control: the same token gets the identity of a pod on its own node.
      const own = await issued(tokens.ztunnelNode1, id('fuzz', 'default'), 3600, id('fuzz', 'default'));
      assert.match(new crypto.X509Certificate(own.chainPem).subjectAltName ?? '', /ns\/fuzz\/sa\/default/);
    });

    it("refuses a pod's token every identity but its own, with or without asking to impersonate", async () => {
      const t = tally('pod token asks for another identity');
      const own = id('fuzz', 'default');
      const others = [id('fuzz', 'other'), id('shop', 'web'), id('istio-system', 'ztunnel'), id('healthy', 'default'), id('fuzz', 'default2')];
      const attempts: Array<{ uris: string[]; impersonated: string; code: grpc.status; reason: RegExp }> = [];
      for (const other of others) {
        // Just asking: the CSR names another identity.
        attempts.push({
          uris: [other],
          impersonated: '',
          code: grpc.status.PERMISSION_DENIED,
          reason: /^service account fuzz\/default may not obtain a certificate for /,
        });
        // Asking to impersonate, as only ztunnel may: for the other identity, and for its own
        // identity as cover for a CSR that names another.
        attempts.push({
          uris: [other],
          impersonated: other,
          code: grpc.status.PERMISSION_DENIED,
          reason: /may not impersonate .*: only istio-system\/ztunnel may$/,
        });
        attempts.push({
          uris: [other],
          impersonated: own,
          code: grpc.status.PERMISSION_DENIED,
          reason: /may not impersonate .*: only istio-system\/ztunnel may$/,
        });
        // Its own identity beside another one in one CSR.
        attempts.push({ uris: [own, other], impersonated: '', code: grpc.status.INVALID_ARGUMENT, reason: /must carry exactly one spiffe uri san, got 2/ });
      }
      // Its own namespace and service account in another trust domain, and spellings of another.
      for (const uri of [
        'spiffe://evil.local/ns/fuzz/sa/default',
        'spiffe://cluster.local/ns/fuzz/sa/default/../other',
        'spiffe://cluster.local/ns/fuzz/sa/other/',
      ])
        attempts.push({
          uris: [uri],
          impersonated: '',
          code: grpc.status.INVALID_ARGUMENT,
          reason: /^csr san .* (is not in trust domain cluster\.local|is not a spiffe id)/,
        });
      for (const a of attempts) {
        const answer = await ask(tokens.app, createCsr({ keyPem: newKey(), uris: a.uris }), a.impersonated);
        t.tried++;
        const shape = `${a.uris.join(',')} impersonating '${a.impersonated}'`;
        assert.equal(answer.code, a.code, `${shape} answered ${grpc.status[answer.code]}: ${answer.details}`);
        assert.match(answer.details, a.reason, `${shape}: ${answer.details}`);
        t.refused++;
        t.reasons.set(grpc.status[a.code]!, (t.reasons.get(grpc.status[a.code]!) ?? 0) + 1);
      }
      assert.equal(t.refused, t.tried);
      assert.ok(t.tried >= 20);
      // The control: the same token gets its own identity.
      await issued(tokens.app, own);
    });
  });

  describe('the HBONE server', () => {
    let echo: EchoApp;
    let server: HboneServer;
    let port: number;
    let meshCa: KeyCertPair;
    /** The server's clock; moved forward for the certificates the CA issued that have since expired. */
    let serverNow: number | undefined;
    const refusals: ConnectionRefusal[] = [];
    let healthy: Presented;

    before(async () => {
      echo = await startEchoApp();
      const own = await issued(tokens.server, id('hbone', 'server'));
      healthy = await issued(tokens.healthy, id('healthy', 'default'));
      const context = tls.createSecureContext({ key: own.keyPem, cert: own.chainPem, ca: cp.rootCertPem, minVersion: 'TLSv1.3' });
      server = createHboneServer({
        context: () => context,
        trustDomain: 'cluster.local',
        rootCertPem: cp.rootCertPem,
        authorize: (req) =>
          req.target.port === echo.port ? { allow: true } : { allow: false, outcome: 'unknown_destination', detail: `${req.authority} is not the app` },
        connectUpstream: (target) => connectTcp(target.port),
        logger: pino({ level: 'silent' }),
        now: () => serverNow ?? Date.now(),
        onConnectionRefused: (r) => refusals.push(r),
      });
      port = (await server.listen({ port: 0, host: '127.0.0.1' })).port;
      // The mesh root's key as istiod-lite keeps it: the attacker's expired certificate has to
      // have come from the mesh CA once, and the CA never issues one already expired.
      const secret = await cp.kube('GET', '/api/v1/namespaces/istio-system/secrets/istio-ca-secret');
      const b64 = (k: string): string => Buffer.from(secret.data[k], 'base64').toString();
      meshCa = { certPem: b64('ca-cert.pem'), keyPem: b64('ca-key.pem') };
    });

    after(async () => {
      await server?.close();
      await echo?.close();
    });

    /** Dials the server as the attacker, presenting `creds`, and asks CONNECT to the app. */
    function attack(creds: Presented): Promise<HboneAttempt> {
      return new Promise((resolve) => {
        let settled = false;
        let status: number | undefined;
        const socket = tls.connect({
          host: '127.0.0.1',
          port,
          key: creds.keyPem,
          cert: creds.chainPem,
          ca: cp.rootCertPem,
          ALPNProtocols: ['h2'],
          minVersion: 'TLSv1.3',
          // The mesh names peers by URI SAN, not hostname; the attacker does not care who answers.
          checkServerIdentity: () => undefined,
        });
        const session = http2.connect(`https://127.0.0.1:${echo.port}`, { createConnection: () => socket });
        const finish = (error: string | undefined, echoed?: string): void => {
          if (settled) return;
          settled = true;
          clearTimeout(bound);
          session.destroy();
          socket.destroy();
          resolve({ status, error, echoed });
        };
        // A bound, not a sleep: a server that neither answers nor closes fails the attempt.
        const bound = setTimeout(() => finish('no answer or close in 5 s'), 5_000);
        socket.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
        session.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
        session.on('close', () => finish('closed'));
        const stream = session.request({ ':method': 'CONNECT', ':authority': `127.0.0.1:${echo.port}` });
        stream.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
        stream.on('response', (headers) => {
          status = Number(headers[':status']);
          if (status !== 200) return finish(`status ${status}`);
          let data = '';
          stream.on('data', (c: Buffer) => {
            data += c.toString();
          });
          stream.on('end', () => finish(undefined, data));
          stream.end('ping');
        });
      });
    }

    /** Runs the attempts one by one; each must be refused before any CONNECT, as `outcome` for `detail`. */
    async function assertRefused(attack_: string, attempts: Array<{ shape: string; creds: Presented; now?: number }>, detail: RegExp): Promise<void> {
      const t = tally(attack_);
      for (const a of attempts) {
        const before = refusals.length;
        serverNow = a.now;
        const got = await attack(a.creds);
        serverNow = undefined;
        t.tried++;
        assert.equal(got.status, undefined, `${a.shape}: the CONNECT was answered ${got.status}`);
        assert.equal(refusals.length, before + 1, `${a.shape}: the server recorded ${refusals.length - before} refusal(s) (client saw ${got.error})`);
        const refusal = refusals.at(-1)!;
        assert.equal(refusal.outcome, 'untrusted_chain', `${a.shape}: refused as ${refusal.outcome} (${refusal.detail})`);
        assert.match(refusal.detail, detail, a.shape);
        t.refused++;
        const verdict =
          /verification: (\S+)/.exec(refusal.detail)?.[1] ?? (/outside its validity/.test(refusal.detail) ? 'outside its validity' : refusal.detail);
        t.reasons.set(verdict, (t.reasons.get(verdict) ?? 0) + 1);
      }
      assert.equal(t.refused, t.tried);
      assert.ok(t.tried >= 20);
      // The control: a certificate the CA issued, now, is served.
      const control = await attack(healthy);
      assert.deepEqual(control, { status: 200, error: undefined, echoed: 'echo:ping' });
    }

    it('refuses every client certificate that does not chain to the mesh root, and serves one that does', async () => {
      const foreign = createCertificateAuthority({ commonName: 'cluster.local', organization: 'cluster.local' });
      const foreignOther = createCertificateAuthority({ commonName: 'evil root' });
      const real = await issued(tokens.healthy, id('healthy', 'default'));
      const attempts: Array<{ shape: string; creds: Presented }> = [];
      const identities = [id('healthy', 'default'), id('hbone', 'server'), id('istio-system', 'ztunnel'), id('shop', 'web')];
      for (const identity of identities) {
        const leaf = issueCertificate({ ca: foreign, commonName: '', uris: [identity] });
        attempts.push(
          // A root named like the mesh's (same subject), so only its key tells them apart.
          { shape: `${identity} from a root named like the mesh's`, creds: { keyPem: leaf.keyPem, chainPem: leaf.certPem } },
          { shape: `${identity} with that root in the chain`, creds: { keyPem: leaf.keyPem, chainPem: leaf.certPem + foreign.certPem } },
          // The real mesh root appended, as if it had signed.
          { shape: `${identity} with the real mesh root appended`, creds: { keyPem: leaf.keyPem, chainPem: leaf.certPem + cp.rootCertPem } },
        );
        const other = issueCertificate({ ca: foreignOther, commonName: identity, uris: [identity] });
        attempts.push({
          shape: `${identity} from another root, chain included`,
          creds: { keyPem: other.keyPem, chainPem: other.certPem + foreignOther.certPem },
        });
        // A workload's real mesh certificate used as a CA to mint another identity.
        const realLeaf = real.chainPem.slice(0, real.chainPem.indexOf('-----END CERTIFICATE-----') + 26);
        const minted = opensslSign({
          signer: { certPem: realLeaf, keyPem: real.keyPem },
          identity,
          notBefore: new Date(Date.now() - 60_000),
          notAfter: new Date(Date.now() + 3_600_000),
        });
        attempts.push({ shape: `${identity} signed by a workload certificate`, creds: { keyPem: minted.keyPem, chainPem: minted.certPem + real.chainPem } });
      }
      await assertRefused('certificate from a foreign root (HBONE mTLS)', attempts, /tls verification|not signed by a mesh ca|does not lead to the mesh root/);
    });

    it('refuses every expired client certificate, from a mesh CA key or as issued by istiod-lite, and serves a current one', async () => {
      const attempts: Array<{ shape: string; creds: Presented; now?: number }> = [];
      const identities = [id('healthy', 'default'), id('hbone', 'server'), id('istio-system', 'ztunnel')];
      // Signed with the mesh root's own key, expired by a second to a month.
      for (const identity of identities) {
        for (const ago of [1, 60, 3600, 30 * 86_400]) {
          const notAfter = new Date(Date.now() - ago * 1000);
          const leaf = opensslSign({ signer: meshCa, identity, notBefore: new Date(notAfter.getTime() - 86_400_000), notAfter });
          const chainPem = ago % 2 === 0 ? leaf.certPem + meshCa.certPem : leaf.certPem;
          attempts.push({ shape: `${identity} expired ${ago}s ago`, creds: { keyPem: leaf.keyPem, chainPem } });
        }
      }
      // Issued by istiod-lite over gRPC, presented after it ran out: the server's clock moves
      // (the TLS stack checks dates by the wall clock; the server's own check by its clock).
      for (const ttl of [60, 300, 600, 3600, 86_400]) {
        const creds = await issued(tokens.healthy, id('healthy', 'default'), ttl);
        const notAfter = Date.parse(new crypto.X509Certificate(creds.chainPem).validTo);
        for (const past of [1_000, 86_400_000]) attempts.push({ shape: `issued for ${ttl}s, presented ${past} ms after`, creds, now: notAfter + past });
      }
      await assertRefused('expired certificate (HBONE mTLS)', attempts, /CERT_HAS_EXPIRED|is outside its validity/);
    });
  });
});

// The sidecar injection webhook's HTTPS server (15017, Istio's webhook port): `POST /inject`
// answers AdmissionReviews (admission-review.ts), `GET /ready` says it serves. Every replica
// serves it; the leader only writes the MutatingWebhookConfiguration that points here.
//
// Its certificate is signed by the mesh CA (the configuration's caBundle is the mesh root) for
// istiod.<root namespace>.svc (the Service the API server calls), its .svc.<cluster domain>
// form, localhost, 127.0.0.1 and any --webhook-url-host, and is replaced at half its life
// without a restart (setSecureContext), so a long-running istiod-lite never serves an expired
// one. The API server appends `?timeout=10s` to the path: only the path is matched.
import { createServer, type Server } from 'node:https';
import { isIP } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { issueCertificate, unrefTimers, type Clock, type KeyCertPair } from '@ambient/api';
import type { Logger } from 'pino';
import type { MeshCa } from '../ca/ca-keys.ts';
import type { IstiodMetrics } from '../metrics.ts';
import { answerAdmissionReview, INJECT_PATH, type InjectionContext, MalformedReviewError } from './admission-review.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
// Node fires a setTimeout longer than this at once: longer waits are taken in steps.
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface WebhookServerOptions {
  ca: MeshCa;
  host: string;
  /** 0 = ephemeral. */
  port: number;
  /** Names and addresses the serving certificate is for (webhookServingNames()). */
  dnsNames: string[];
  ipAddresses: string[];
  injection: InjectionContext;
  metrics: IstiodMetrics;
  logger: Logger;
  /** Validity of each serving certificate; it is replaced at half of it. Default 30 days. */
  certValidityMs?: number;
  /** Largest request body read; more is answered 413. Default 8 MiB (a pod is far smaller). */
  maxBodyBytes?: number;
  /** Timers of the certificate rotation; tests drive them. */
  clock?: Clock;
}

export interface WebhookServer {
  port: number;
  /** The serving certificate now (PEM). */
  certificatePem(): string;
  close(): Promise<void>;
}

/** What the serving certificate must name: the Service form, localhost, and the --webhook-url-host. */
export function webhookServingNames(opts: { rootNamespace: string; clusterDomain: string; urlHost?: string }): { dnsNames: string[]; ipAddresses: string[] } {
  const service = `istiod.${opts.rootNamespace}.svc`;
  const dnsNames = [service, `${service}.${opts.clusterDomain}`, 'localhost'];
  const ipAddresses = ['127.0.0.1'];
  const host = opts.urlHost;
  if (host !== undefined && host !== '') {
    if (isIP(host) !== 0) {
      if (!ipAddresses.includes(host)) ipAddresses.push(host);
    } else if (!dnsNames.includes(host)) dnsNames.push(host);
  }
  return { dnsNames, ipAddresses };
}

export async function startWebhookServer(opts: WebhookServerOptions): Promise<WebhookServer> {
  const log = opts.logger.child({ component: 'injection-webhook' });
  const clock: Clock = opts.clock ?? { ...unrefTimers, now: Date.now };
  const validityMs = opts.certValidityMs ?? 30 * DAY_MS;
  const maxBody = opts.maxBodyBytes ?? 8 * 1024 * 1024;
  const { metrics } = opts;

  const issue = (): KeyCertPair & { chainPem: string } => {
    const leaf = issueCertificate({
      ca: opts.ca.signer,
      commonName: 'istiod',
      dnsNames: opts.dnsNames,
      ipAddresses: opts.ipAddresses,
      validitySeconds: Math.max(1, Math.floor(validityMs / 1000)),
      isServer: true,
      isClient: false,
    });
    // Leaf and any intermediates of a plug-in CA; the root is the caBundle's.
    return { ...leaf, chainPem: [leaf.certPem, ...opts.ca.chain.slice(0, -1)].join('') };
  };
  let serving = issue();

  const server: Server = createServer({ key: serving.keyPem, cert: serving.chainPem }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      // Nothing a request does may take the server down.
      log.error({ err }, 'injection request failed');
      if (!res.headersSent) reply(res, 500, `internal error: ${(err as Error).message}\n`);
      else res.destroy();
    });
  });
  server.requestTimeout = 30_000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'https://webhook').pathname;
    if (path === '/ready') {
      if (req.method === 'GET' || req.method === 'HEAD') reply(res, 200, 'ok\n');
      else reply(res, 405, `method ${req.method} not allowed: GET /ready\n`, { allow: 'GET' });
      return;
    }
    if (path !== INJECT_PATH) {
      reply(res, 404, `not found: ${path} (the injection webhook serves POST ${INJECT_PATH})\n`);
      return;
    }
    if (req.method !== 'POST') {
      reply(res, 405, `method ${req.method} not allowed: POST an AdmissionReview to ${INJECT_PATH}\n`, { allow: 'POST' });
      return;
    }
    metrics.injectionRequests.inc();
    const body = await readBody(req, maxBody);
    if (body === undefined) {
      metrics.injectionFailures.inc({ type: 'malformed' });
      reply(res, 413, `request body larger than ${maxBody} bytes\n`, { connection: 'close' });
      return;
    }
    let answer: ReturnType<typeof answerAdmissionReview>;
    try {
      answer = answerAdmissionReview(body, opts.injection);
    } catch (err) {
      if (!(err instanceof MalformedReviewError)) throw err;
      metrics.injectionFailures.inc({ type: 'malformed' });
      log.warn({ err }, 'refused a malformed review');
      reply(res, 400, `${err.message}\n`);
      return;
    }
    if (answer.outcome === 'injected') {
      metrics.injectionSuccess.inc();
      log.info({ pod: answer.pod, uid: answer.review.response.uid }, 'injected sidecar');
    } else {
      metrics.injectionSkips.inc();
      log.debug({ pod: answer.pod, outcome: answer.outcome, reason: answer.reason }, 'not injected');
    }
    reply(res, 200, JSON.stringify(answer.review), { 'content-type': 'application/json' });
  }

  // ---- certificate rotation --------------------------------------------------------------------
  let timer: unknown;
  let closed = false;
  const rotateAt = (at: number): void => {
    const wait = at - clock.now();
    timer = clock.setTimeout(
      () => {
        if (closed) return;
        if (clock.now() < at) {
          rotateAt(at); // a step of a wait longer than a timer can take
          return;
        }
        try {
          serving = issue();
          server.setSecureContext({ key: serving.keyPem, cert: serving.chainPem });
          log.info({ validityMs }, 'rotated the webhook serving certificate');
        } catch (err) {
          // The old certificate still has half its life: try again in a minute.
          log.error({ err }, 'cannot rotate the webhook serving certificate');
          rotateAt(clock.now() + 60_000);
          return;
        }
        rotateAt(clock.now() + validityMs / 2);
      },
      Math.max(0, Math.min(wait, MAX_TIMER_MS)),
    );
  };

  const port = await new Promise<number>((ready, fail) => {
    server.once('error', fail);
    server.listen(opts.port, opts.host, () => {
      server.off('error', fail);
      ready((server.address() as AddressInfo).port);
    });
  });
  rotateAt(clock.now() + validityMs / 2);
  return {
    port,
    certificatePem: () => serving.certPem,
    close: () =>
      new Promise<void>((done) => {
        closed = true;
        clock.clearTimeout(timer);
        server.close(() => done());
        server.closeIdleConnections();
      }),
  };
}

function reply(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(body);
}

/** The body as text, or undefined when it exceeds `max` bytes (the rest is discarded). */
function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  return new Promise((done, fail) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > max) {
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => done(tooLarge ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.on('error', fail);
  });
}

// A pod's ServiceAccount tokens as the kubelet keeps them: the default one (unless
// automountServiceAccountToken is false) and one per `serviceAccountToken` source of a
// projected volume, each a TokenRequest bound to the pod with the source's audience and
// lifetime, written atomically under the pod's directory and refreshed at 80 % of its lifetime
// (at least daily), as the real kubelet does. Volumes are not mounted (pods share the host's
// filesystem): a container finds its token through $AMBIENT_SA_TOKEN_FILE (container-env.ts).
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Clock } from '@ambient/api';
import type { ProjectedTokenFile } from './container-env.ts';

/** Lifetime of the default token, and of a projected one whose source sets none (Kubernetes' default). */
export const DEFAULT_TOKEN_SECONDS = 3600;
const REFRESH_AT = 0.8;
const MAX_REFRESH_MS = 24 * 3600_000;
/** A token that could not be written is asked for again this soon (doubling to 5 min), not at its next refresh. */
export const TOKEN_RETRY_MS = 10_000;
const MAX_RETRY_MS = 300_000;
const VOLUME_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export interface PodToken {
  /** Where the kubelet writes it. */
  file: string;
  /** [] = the API server's own audiences. */
  audiences: string[];
  expirationSeconds: number;
  /** The projected volume source it is for; absent for the default token. */
  source?: { volume: string; path: string };
}

export interface PodTokenPlan {
  tokens: PodToken[];
  /** Sources left out, with why (Kubernetes' validation would have refused the pod). */
  invalid: string[];
}

/** Which tokens a pod gets and where they are written, `podDir` being the pod's own directory. */
export function planPodTokens(pod: V1Pod, podDir: string): PodTokenPlan {
  const tokens: PodToken[] = [];
  const invalid: string[] = [];
  if (pod.spec?.automountServiceAccountToken !== false) tokens.push({ file: join(podDir, 'token'), audiences: [], expirationSeconds: DEFAULT_TOKEN_SECONDS });
  for (const volume of pod.spec?.volumes ?? []) {
    for (const source of volume.projected?.sources ?? []) {
      const sat = source.serviceAccountToken;
      if (!sat) continue;
      // Both end up in a host path: neither may leave the pod's directory.
      if (!VOLUME_NAME.test(volume.name) || !isLocalPath(sat.path)) {
        invalid.push(`volume '${volume.name}': serviceAccountToken path '${sat.path}' must be a relative path without '..' in a volume named as a DNS label`);
        continue;
      }
      tokens.push({
        file: join(podDir, 'volumes', volume.name, sat.path),
        audiences: sat.audience ? [sat.audience] : [],
        expirationSeconds: sat.expirationSeconds ?? DEFAULT_TOKEN_SECONDS,
        source: { volume: volume.name, path: sat.path },
      });
    }
  }
  return { tokens, invalid };
}

/** The projected tokens of a plan, as container-env maps them into containers. */
export function projectedTokenFiles(plan: PodTokenPlan): ProjectedTokenFile[] {
  return plan.tokens.flatMap((t) => (t.source ? [{ ...t.source, file: t.file }] : []));
}

function isLocalPath(path: string | undefined): path is string {
  return !!path && !posix.isAbsolute(path) && !path.split('/').includes('..');
}

export interface PodTokensOptions {
  core: CoreV1Api;
  pod: V1Pod;
  tokens: readonly PodToken[];
  clock: Clock;
  logger: Logger;
}

/** Writes a pod's tokens and keeps them fresh until stopped. */
export class PodTokens {
  readonly #o: PodTokensOptions;
  /** When each token is next requested (ms since the epoch). */
  readonly #due = new Map<PodToken, number>();
  readonly #failures = new Map<PodToken, number>();
  #timer: unknown;
  #running: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(opts: PodTokensOptions) {
    this.#o = opts;
  }

  /** Requests and writes every token once (a failure is logged and retried soon), then keeps them fresh. */
  async start(): Promise<void> {
    this.#running = this.#refresh(this.#o.tokens);
    await this.#running;
  }

  /** Stops refreshing; resolves once no write is under way (so the pod's directory can go). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  async #refresh(tokens: readonly PodToken[]): Promise<void> {
    await Promise.all(tokens.map((t) => this.#write(t)));
    this.#schedule();
  }

  #schedule(): void {
    if (this.#stopped || this.#due.size === 0) return;
    const next = Math.min(...this.#due.values());
    this.#timer = this.#o.clock.setTimeout(
      () => {
        this.#timer = undefined;
        const now = this.#o.clock.now();
        const due = this.#o.tokens.filter((t) => (this.#due.get(t) ?? 0) <= now);
        this.#running = this.#refresh(due);
      },
      Math.max(0, next - this.#o.clock.now()),
    );
  }

  async #write(token: PodToken): Promise<void> {
    const { pod, core, clock } = this.#o;
    const { uid, name, namespace } = pod.metadata as { uid: string; name: string; namespace: string };
    let granted: { token?: string } | undefined;
    try {
      const request = await core.createNamespacedServiceAccountToken({
        name: pod.spec?.serviceAccountName ?? 'default',
        namespace,
        body: {
          spec: { audiences: token.audiences, expirationSeconds: token.expirationSeconds, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name, uid } },
        },
      });
      granted = request.status;
      if (granted?.token && !this.#stopped) {
        await mkdir(dirname(token.file), { recursive: true });
        await writeFile(`${token.file}.tmp`, granted.token, { mode: 0o600 });
        await rename(`${token.file}.tmp`, token.file); // readers never see a half-written token
      }
    } catch (err) {
      this.#retry(token, err);
      return;
    }
    if (!granted?.token) {
      this.#retry(token, undefined);
      return;
    }
    this.#failures.delete(token);
    const now = clock.now();
    // The API server may grant another lifetime than asked: refresh from the one granted.
    const lifetimeMs = (grantedSeconds(granted.token) ?? token.expirationSeconds) * 1000;
    this.#due.set(token, now + Math.min(lifetimeMs * REFRESH_AT, MAX_REFRESH_MS));
  }

  #retry(token: PodToken, err: unknown): void {
    const failures = (this.#failures.get(token) ?? 0) + 1;
    this.#failures.set(token, failures);
    const delay = Math.min(TOKEN_RETRY_MS * 2 ** (failures - 1), MAX_RETRY_MS);
    this.#o.logger.warn({ err, file: token.file, audiences: token.audiences, retryInMs: delay }, 'could not project the service account token');
    this.#due.set(token, this.#o.clock.now() + delay);
  }
}

/** exp − iat of a JWT, read without verifying it (the kubelet only times its refresh by it). */
function grantedSeconds(jwt: string): number | undefined {
  try {
    const { exp, iat } = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown; iat?: unknown };
    return typeof exp === 'number' && typeof iat === 'number' && exp > iat ? exp - iat : undefined;
  } catch {
    return undefined;
  }
}

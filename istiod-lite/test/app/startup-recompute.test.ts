// Regression: the model recompute read the leader-only status writer and waypoint controller,
// which startIstiod declared (`let`) only after the gRPC bind and the root-cert publisher had
// been awaited. A Kubernetes change whose debounce fired during those awaits threw a
// ReferenceError, logged as 'model computation failed', and its status/waypoint update was lost.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { CoreV1Api, KubeConfig, type RequestContext } from '@kubernetes/client-node';
import { pino } from 'pino';
import type { Clock } from '@ambient/api';
import { startIstiod, type Istiod } from '../../src/app.ts';
import { eventually, startEmbeddedApi, type EmbeddedApi } from '../kube/embedded-api.ts';

/** Holds the first request whose URL matches until release(): a startup step made slow at will. */
class GatedKubeConfig extends KubeConfig {
  readonly #match: (url: string) => boolean;
  #gate: Promise<void> | undefined;
  release: () => void = () => {};
  held = false;

  constructor(match: (url: string) => boolean) {
    super();
    this.#match = match;
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    if (!this.#gate && this.#match(context.getUrl())) {
      this.#gate = new Promise((resolve) => {
        this.release = resolve;
      });
      this.held = true;
      await this.#gate;
    }
    return super.applySecurityAuthentication(context);
  }
}

/** Timers that fire only when the test says so. */
function manualClock(): Clock & { pending: Set<{ fn: () => void }>; fireAll(): void } {
  const pending = new Set<{ fn: () => void }>();
  return {
    pending,
    now: () => Date.now(),
    setTimeout: (fn) => {
      const t = { fn };
      pending.add(t);
      return t;
    },
    clearTimeout: (handle) => {
      pending.delete(handle as { fn: () => void });
    },
    fireAll() {
      for (const t of [...pending]) {
        pending.delete(t);
        t.fn();
      }
    },
  };
}

describe('istiod-lite startup', function () {
  this.timeout(30_000);
  let api: EmbeddedApi;
  let istiod: Istiod | undefined;
  afterEach(async () => {
    await istiod?.stop();
    await api?.close();
  });

  it('does not lose a model recompute that fires while startup awaits the root-cert publisher (statusWriter used before its declaration)', async () => {
    api = await startEmbeddedApi();
    // The root-cert publisher's first list of ConfigMaps: startup waits here, after the model
    // listens to changes and before the leader-only work exists.
    const kc = new GatedKubeConfig((url) => url.includes('/api/v1/configmaps') && !url.includes('watch=true'));
    kc.loadFromFile(api.server.kubeconfigPath);
    const errors: string[] = [];
    const logger = pino(
      { level: 'error' },
      new Writable({
        write(line: Buffer, _enc, done) {
          errors.push(String(line));
          done();
        },
      }),
    );
    const clock = manualClock();

    const starting = startIstiod({
      kubeConfig: kc,
      logger,
      host: '127.0.0.1',
      grpcPort: 0,
      metricsPort: 0,
      webhookPort: 0,
      installCrds: true,
      identity: 'startup-test',
      debounceMs: 0,
      clock,
    });
    await eventually('startup to reach the root-cert publisher', () => kc.held, 10_000);
    await api.kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: 'during-startup' } } });
    await eventually('the change to schedule a recompute', () => clock.pending.size > 0);
    clock.fireAll();
    kc.release();
    istiod = await starting;

    assert.deepEqual(
      errors.map((l) => JSON.parse(l) as { msg: string; err?: { message: string } }).map((l) => `${l.msg}: ${l.err?.message}`),
      [],
    );
  });
});

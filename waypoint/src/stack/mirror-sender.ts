// Request mirroring: a copy of a request goes to another backend, its response read and thrown
// away, its failure only logged. Mirrors never hold the real request up and are bounded: past
// `maxInFlight` copies a new one is skipped (a slow mirror backend must not pile up memory).
import type { Logger } from 'pino';
import type { Endpoint, EndpointClient, UpstreamRequest } from '../endpoint/index.ts';

export class MirrorSender {
  readonly #endpoints: EndpointClient;
  readonly #logger: Logger;
  readonly #maxInFlight: number;
  #inFlight = 0;
  #skipped = 0;

  constructor(endpoints: EndpointClient, logger: Logger, maxInFlight = 100) {
    this.#endpoints = endpoints;
    this.#logger = logger;
    this.#maxInFlight = maxInFlight;
  }

  /** Fire and forget; `endpoint` undefined (no endpoint for the mirror backend) skips it. */
  send(target: { upstream: Endpoint } | undefined, request: Omit<UpstreamRequest, 'signal'>): void {
    if (target === undefined) return;
    if (this.#inFlight >= this.#maxInFlight) {
      this.#skipped++;
      return;
    }
    this.#inFlight++;
    this.#endpoints
      .request(target.upstream, request)
      .then(async (response) => {
        for await (const _ of response.body) {
          // discard
        }
      })
      .catch((err: unknown) => this.#logger.debug({ err, upstream: target.upstream.address }, 'mirror request failed'))
      .finally(() => this.#inFlight--);
  }

  get skipped(): number {
    return this.#skipped;
  }
}

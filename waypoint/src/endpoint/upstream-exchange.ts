// One request/response with an endpoint, as an undici dispatch handler: it resolves the
// UpstreamResponse at the response headers, streams the body with backpressure (the body's
// reader paces undici), hands over the trailers at the end, and turns every failure into one
// EndpointError that says how far the exchange got.
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { UpstreamRequest, UpstreamResponse } from './endpoint.ts';
import { EndpointError, endpointFailure, type FailureContext } from './endpoint-error.ts';
import { forwardBody } from './request-body.ts';
import { downstreamResponseHeaders, flattenTrailers } from './upstream-headers.ts';

type Controller = Dispatcher.DispatchController;

// Readable's default (16 KiB) would pause undici every few frames; undici's own body uses 64 KiB.
const BODY_HIGH_WATER_MARK = 64 * 1024;

function ignore(): void {}

export class UpstreamExchange implements Dispatcher.DispatchHandler {
  /** Settles with the response headers or the failure before them. */
  readonly response: Promise<UpstreamResponse>;
  /** The request body as undici is to be given it (see request-body.ts). */
  readonly requestBody: Buffer | AsyncIterable<Buffer> | null;
  /** Names the exchange in messages: `GET shop:80/path via 10.0.0.1:8080`. */
  readonly what: string;
  readonly #signal: AbortSignal | undefined;
  readonly #onDone: () => void;
  #resolve!: (response: UpstreamResponse) => void;
  #reject!: (err: EndpointError) => void;
  #resolveTrailers!: (trailers: Record<string, string>) => void;
  #rejectTrailers!: (err: EndpointError) => void;
  #controller: Controller | null = null;
  #body: Readable | undefined;
  #requestSent = false;
  #settled = false;
  #done = false;
  #abortedBy: { reason: unknown } | undefined;
  #downstreamGone = false;
  /** Fires when the exchange is over, so the request body stops being read. */
  readonly #stop = new AbortController();
  readonly #onAbort = (): void => this.#abort();
  // Stay attached after the exchange: a request body that fails later must not crash the process.
  readonly #onRequestBodyError = (): void => {
    this.#downstreamGone = true;
  };
  readonly #onRequestBodyClose = (): void => {
    if (!(this.#requestBodyStream?.readableEnded ?? true)) this.#downstreamGone = true;
  };
  readonly #requestBodyStream: Readable | undefined;

  /** `what` names the exchange in messages (`GET 10.0.0.1:8080/path`); `onDone` runs once, when undici is finished with it. */
  constructor(request: UpstreamRequest, what: string, onDone: () => void) {
    this.what = what;
    this.#signal = request.signal;
    this.#onDone = onDone;
    this.response = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    if (request.body instanceof Readable) {
      this.#requestBodyStream = request.body;
      request.body.on('error', this.#onRequestBodyError);
      request.body.once('close', this.#onRequestBodyClose);
      // A declared empty body sends none: undici refuses a stream body of length 0 beside other streams.
      this.requestBody = request.headers['content-length'] === '0' ? null : forwardBody(request.body, this.#stop.signal);
    } else {
      this.requestBody = request.body;
    }
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  onRequestStart(controller: Controller): void {
    this.#controller = controller;
    // Aborted while queued or connecting: it never reaches the connection.
    if (this.#abortedBy !== undefined) {
      controller.abort(this.#failure(this.#abortedBy.reason));
      return;
    }
    this.#requestSent = true;
  }

  onResponseStart(controller: Controller, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    // 1xx (100 Continue, 103 Early Hints) are the server side's business; the final status follows.
    if (statusCode < 200 || this.#settled) return;
    this.#settled = true;
    const trailers = new Promise<Record<string, string>>((resolve, reject) => {
      this.#resolveTrailers = resolve;
      this.#rejectTrailers = reject;
    });
    // A caller that only reads the body still learns of a failure from it; this keeps an unread
    // trailers promise from crashing the process as an unhandled rejection.
    trailers.catch(ignore);
    this.#body = new Readable({
      highWaterMark: BODY_HIGH_WATER_MARK,
      read: () => controller.resume(),
      destroy: (err, callback) => {
        // The reader gave up (the downstream went away): stop the exchange.
        if (!this.#done) {
          this.#downstreamGone = true;
          const reason = err ?? new EndpointError('ERR_ENDPOINT_ABORTED', `upstream ${this.what}: response body destroyed by its reader`);
          controller.abort(this.#failure(reason));
        }
        callback(err);
      },
    });
    // The failure may come in the same tick as the headers, before the caller has attached to
    // the body: without this the 'error' event would crash the process. Readers still get it
    // (pipeline and for-await report a stream's stored error), and so does `trailers`.
    this.#body.on('error', ignore);
    this.#resolve({ statusCode, headers: downstreamResponseHeaders(headers), body: this.#body, trailers });
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.#body !== undefined && !this.#body.push(chunk)) controller.pause();
  }

  onResponseEnd(_controller: Controller, trailers: Record<string, string | string[] | undefined>): void {
    if (this.#finish()) return;
    this.#body?.push(null);
    this.#resolveTrailers?.(flattenTrailers(trailers));
  }

  onResponseError(_controller: Controller | null, err: Error): void {
    if (this.#finish()) return;
    const failure = this.#failure(err);
    if (this.#body === undefined) {
      // Before the headers; unless our signal already failed the exchange while it was queued.
      if (!this.#settled) {
        this.#settled = true;
        this.#reject(failure);
      }
      return;
    }
    this.#rejectTrailers(failure);
    if (!this.#body.destroyed) this.#body.destroy(failure);
  }

  /** Ends the exchange from our side (the client closing), through undici so it settles its own state. */
  cancel(reason: EndpointError): void {
    if (this.#done) return;
    if (this.#controller !== null) this.#controller.abort(reason);
    // Not started yet: it sits in a queue, and the dispatcher's destroy() fails it from there.
  }

  /** Our signal fired. Before a connection took the request, fail now rather than wait for one. */
  #abort(): void {
    if (this.#done || this.#abortedBy !== undefined) return;
    this.#abortedBy = { reason: this.#signal?.reason };
    if (this.#controller !== null) {
      this.#controller.abort(this.#failure(this.#abortedBy.reason));
    } else if (!this.#settled) {
      this.#settled = true;
      this.#reject(this.#failure(this.#abortedBy.reason));
    }
  }

  /** Marks the exchange finished; true if it already was. */
  #finish(): boolean {
    if (this.#done) return true;
    this.#done = true;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#stop.abort();
    this.#onDone();
    return false;
  }

  #failure(err: unknown): EndpointError {
    const context: FailureContext = { downstreamGone: this.#downstreamGone };
    if (this.#abortedBy !== undefined) context.aborted = this.#abortedBy;
    return endpointFailure(err, this.what, { requestSent: this.#requestSent, responseStarted: this.#body !== undefined }, context);
  }
}

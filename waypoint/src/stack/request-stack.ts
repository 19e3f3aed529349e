// The waypoint's L7 stack for one request. Its order is written here once, with why each layer
// sits where it does (like linkerd2-proxy's stack):
//
//    1. facts      read the request once (method, normalized path, authority, headers, gRPC):
//                  every decision below sees the same path, so a path authorization checked is
//                  the path routed and the path forwarded (Istio's BASE normalization).
//    2. trace      request id and trace context first, so every reply below carries them.
//    3. authorize  L7 AuthorizationPolicy before anything spends work or touches a backend: a
//                  denied request must not be routed, mirrored, retried, counted in a budget or
//                  spend a rate-limit token.
//    4. route      the first matching rule is *selected* here (pure, cheap) so that policies
//                  attached to a route know it; it is acted on only after 5 and 6.
//    5. rate limit RateLimitPolicy (local buckets, or Redis within its time budget) before any
//                  backend work: a limited request costs one lookup and a 429.
//    6. fault      FaultInjectionPolicy, before the deadline starts (Envoy's fault filter sits
//                  before its router): an injected delay does not eat the route's timeout, and an
//                  injected abort is never retried.
//       (route)    local replies (redirect, direct status, no route) end here.
//    7. deadline   `timeouts.request` starts now and spans every try and backoff below.
//    8. retry      each try asks the retry policy, the destination's budget and the breaker's
//                  maxRetries; a refused retry returns the try's own answer, so retries can
//                  never amplify an outage.
//    9. breaker    DestinationRule connectionPool per destination, before an endpoint is picked:
//                  over the limit fails fast (503 UO) instead of queueing without bound; an
//                  HTTP/1.1 request may wait in the bounded pending queue, within its deadline.
//   10. balance    a fresh endpoint per try, by the DestinationRule's load balancer (P2C/EWMA by
//                  default), without the endpoints outlier detection ejected; every try reports
//                  back (latency, status, failure) so the next pick sees it (a retry after a
//                  failure avoids the endpoint that just failed; a consistent hash keeps its own).
//   11. endpoint   the request over HBONE to the endpoint's ztunnel (EndpointClient).
//   12. report     one access-log line and the Istio metrics, at the boundary, whatever happened.
import type { Readable } from 'node:stream';
import { type Clock, ports, type ServiceConfig, type TrafficPolicy } from '@ambient/api';
import type { Logger } from 'pino';
import { backendKey, type EndpointFailure, type EndpointPicker, type PickContext } from '../balance/endpoint-picker.ts';
import type { Endpoint as StateEndpoint, ServedTarget as StateTarget, WaypointState } from '../config/waypoint-state.ts';
import type { Endpoint, EndpointClient, UpstreamResponse } from '../endpoint/index.ts';
import { downstreamResponseHeaders, EndpointError, upstreamRequestHeaders } from '../endpoint/index.ts';
import type { RequestFacts } from '../http/request-facts.ts';
import { authorizationPath, authorizeRequest, denialResponse } from '../policy/authorization.ts';
import type { Admission, CircuitBreakers } from '../policy/circuit-breaker.ts';
import { Deadline, TimeoutError } from '../policy/deadline.ts';
import type { FaultInjector, FaultScope } from '../policy/fault-injection.ts';
import type { RateLimiter, RateLimitScope } from '../policy/rate-limiter.ts';
import type { RetryBudgets } from '../policy/retry-budget.ts';
import { type RetryDecision, retryDecision, type TryOutcome } from '../policy/retry-policy.ts';
import { parseGrpcPath } from '../route/grpc-path.ts';
import { applyHeaderModifier, type MutableHeaders } from '../route/header-modifier.ts';
import { randomPick, selectRoute, type ForwardDecision, type RouteDecision, type WeightedPicker } from '../route/select-route.ts';
import type { InboundConnection, ServedTarget as ServerTarget, WaypointRequest, WaypointResponse } from '../server/inbound-connection.ts';
import type { RequestRecord } from '../telemetry/request-record.ts';
import { workloadLabels } from '../telemetry/request-record.ts';
import { reportRequest } from '../telemetry/report-request.ts';
import { NO_FLAGS, type ResponseFlag } from '../telemetry/response-flags.ts';
import { propagateTrace, requestId } from '../telemetry/trace-context.ts';
import type { WaypointMetrics } from '../telemetry/waypoint-metrics.ts';
import { MirrorSender } from './mirror-sender.ts';

/** The calls both Node response kinds share, in a form TypeScript can call on the union. */
interface ResponseSink {
  writeHead(status: number): unknown;
  write(chunk: Buffer): boolean;
}

/** What the server resolved a CONNECT target to: the state's view plus how the server serves it. */
export type WaypointTarget = ServerTarget & StateTarget;

export interface RequestStackOptions {
  state: WaypointState;
  endpoints: EndpointClient;
  picker: EndpointPicker;
  budgets: RetryBudgets;
  breakers: CircuitBreakers;
  rateLimiter: RateLimiter;
  faults: FaultInjector;
  metrics: WaypointMetrics;
  logger: Logger;
  clock: Clock;
  /** Weighted backend choice; injected for tests. */
  pick?: WeightedPicker;
  /** [0, 1) for retry backoff jitter. */
  random?: () => number;
  /** Request bodies up to this size are buffered so a retry can replay them; larger ones stream (never retried after a byte was sent). */
  maxReplayBytes?: number;
}

const DEFAULT_MAX_REPLAY_BYTES = 64 * 1024;
/** A retry the breaker's maxRetries refused: counted with the budget's refusals (the try's own answer stands). */
const MAX_RETRIES_REACHED: RetryDecision = Object.freeze({ retry: false, reason: 'budget-exhausted' });

export class RequestStack {
  readonly #o: RequestStackOptions;
  readonly #pick: WeightedPicker;
  readonly #random: () => number;
  readonly #maxReplay: number;
  readonly #mirrors: MirrorSender;

  constructor(options: RequestStackOptions) {
    this.#o = options;
    this.#pick = options.pick ?? randomPick;
    this.#random = options.random ?? Math.random;
    this.#maxReplay = options.maxReplayBytes ?? DEFAULT_MAX_REPLAY_BYTES;
    this.#mirrors = new MirrorSender(options.endpoints, options.logger);
  }

  /** Serves one request; never rejects (every failure becomes a reply and a report). */
  async handle(req: WaypointRequest, res: WaypointResponse, conn: InboundConnection<WaypointTarget>): Promise<void> {
    const { state, clock } = this.#o;
    const startTime = Date.now();
    const started = clock.now();
    // 1. facts
    const facts = requestFactsOf(req, conn);
    const grpc = facts.grpc !== undefined;
    const target = conn.served;
    const service = target.kind === 'service' ? target.service : undefined;
    const record: RequestRecord = {
      startTime,
      method: facts.method,
      path: req.url ?? '/',
      authority: facts.authority,
      httpVersion: conn.protocol === 'http2' ? 'HTTP/2' : 'HTTP/1.1',
      protocol: grpc ? 'grpc' : 'http',
      status: 0,
      responseFlags: NO_FLAGS,
      bytesReceived: 0,
      bytesSent: 0,
      durationMs: 0,
      attempts: 0,
      requestId: '',
      source: conn.source,
      sourceWorkload: labelsOf(state.addresses.workloadByIp(conn.source.ip)),
      service: service && { hostname: service.hostname, name: service.name, namespace: service.namespace },
      destinationWorkload: target.kind === 'workload' ? workloadLabels(target.workload) : undefined,
      userAgent: header(req.headers['user-agent']),
    };
    // 2. trace
    const trace = propagateTrace(req.headers);
    record.requestId = requestId(req.headers);
    record.traceId = trace.traceId;
    record.spanId = trace.spanId;
    let delayed = false;
    try {
      // 3. authorize
      const decision = authorizeRequest(state.config?.authorizations ?? [], { serviceHostname: service?.hostname }, facts, conn.source);
      if (!decision.allowed) {
        const [namespace, name] = decision.policy.includes('/') ? decision.policy.split('/') : [undefined, undefined];
        record.denied = { policy: namespace !== undefined && name !== undefined ? { namespace, name } : undefined };
        const denial = denialResponse(grpc);
        this.#write(res, record, denial.status, denial.body, NO_FLAGS, 'rbac_access_denied', denial.headers);
        return;
      }
      // 4. route (selected; acted on below)
      const route: RouteDecision =
        target.kind === 'service'
          ? selectRoute(target.config, facts, this.#pick)
          : // A workload-addressed request has no routes: it goes to the workload itself.
            workloadForward(facts);
      record.routeName = route.kind === 'no-route' ? undefined : route.route || undefined;
      const scope = policyScope(state, service, route);
      // 5. rate limit
      if (this.#o.rateLimiter.size > 0) {
        const pending = this.#o.rateLimiter.check(scope, {
          method: facts.method,
          path: facts.path,
          host: facts.authority,
          headers: req.headers,
          sourceIp: conn.source.ip,
          sourcePrincipal: conn.source.identity,
          sourceNamespace: conn.source.namespace,
        });
        const limit = pending instanceof Promise ? await pending : pending;
        if (limit.kind === 'limited') {
          this.#localReply(res, record, 429, 'local_rate_limited\n', ['RL'], 'request_rate_limited', { 'content-type': 'text/plain', ...limit.headers });
          return;
        }
        if (limit.kind === 'store-error' && limit.failClosed) {
          this.#localReply(res, record, 500, 'rate limit service unavailable\n', ['RLSE'], 'rate_limiter_error');
          return;
        }
      }
      // 6. fault
      const fault = this.#o.faults.size > 0 ? this.#o.faults.faultFor(scope, req.headers, this.#random) : undefined;
      if (fault !== undefined) {
        if (fault.delayMs !== undefined) {
          delayed = true;
          if (!(await waitFor(fault.delayMs, closedSignal(res), clock))) {
            record.status = 0;
            record.responseFlags = ['DC'];
            return;
          }
        }
        if (fault.abort !== undefined) {
          this.#o.metrics.countFault(record.service?.hostname ?? '', 'abort');
          if ('httpStatus' in fault.abort) this.#localReply(res, record, fault.abort.httpStatus, 'fault filter abort', ['FI'], 'fault_filter_abort');
          else this.#localGrpcStatus(res, record, fault.abort.grpcStatus, 'fault filter abort', ['FI'], 'fault_filter_abort');
          return;
        }
      }
      if (route.kind !== 'forward') {
        if (route.kind === 'redirect') this.#localReply(res, record, route.status, '', NO_FLAGS, 'redirect', { location: route.location });
        else if (route.kind === 'no-route') this.#localReply(res, record, 404, 'route not found\n', ['NR'], 'route_not_found');
        else this.#localReply(res, record, route.status, '', NO_FLAGS, 'direct_response');
        return;
      }
      await this.#forward(req, res, conn, facts, route, trace, record);
    } catch (err) {
      this.#o.logger.warn({ err, requestId: record.requestId }, 'request failed in the waypoint');
      if (!res.headersSent) this.#localReply(res, record, 500, 'internal error\n', ['LR'], 'waypoint_error');
      else res.destroy();
    } finally {
      if (delayed) {
        // Envoy's order: DI before the other flags (FI, or the upstream's).
        record.responseFlags = ['DI', ...record.responseFlags];
        this.#o.metrics.countFault(record.service?.hostname ?? '', 'delay');
      }
      record.durationMs = Math.round(clock.now() - started);
      reportRequest(record, this.#o.metrics, this.#o.logger);
    }
  }

  async #forward(
    req: WaypointRequest,
    res: WaypointResponse,
    conn: InboundConnection<WaypointTarget>,
    facts: RequestFacts,
    route: ForwardDecision,
    trace: ReturnType<typeof propagateTrace>,
    record: RequestRecord,
  ): Promise<void> {
    const { state, clock, picker, endpoints } = this.#o;
    const target = conn.served;
    const backendService = route.backend.hostname;
    const serviceConfig: ServiceConfig | undefined = target.kind === 'service' ? (state.serviceConfig(backendService) ?? target.config) : undefined;
    const policy = serviceConfig?.trafficPolicy;
    const pickContext: PickContext = { headers: req.headers, sourceIp: conn.source.ip, path: facts.path };
    // The upstream request's headers: the client's, then the route's modifiers, then ours.
    const headers: MutableHeaders = { ...req.headers };
    for (const m of route.requestHeaders) applyHeaderModifier(headers, m);
    headers.traceparent = trace.traceparent;
    if (trace.tracestate !== undefined) headers.tracestate = trace.tracestate;
    else delete headers.tracestate;
    headers['x-request-id'] = record.requestId;
    headers['x-forwarded-proto'] ??= 'http';
    const authority = route.authority ?? facts.authority;
    // Small bodies are buffered so a retry (or a mirror) can send them again; a large or
    // streaming body (gRPC) goes through as it comes and cannot be replayed.
    const body = await this.#bodyOf(req, facts);
    record.bytesReceived = body.buffered?.length ?? 0;
    const replayable = body.stream === undefined;
    for (const mirror of route.mirrors) {
      if (replayable && (mirror.percent === undefined || mirror.percent === 0 || this.#random() * 100 < mirror.percent)) {
        const mirrorPolicy = state.serviceConfig(mirror.backend.hostname)?.trafficPolicy ?? policy;
        this.#mirrors.send(this.#endpointFor(mirror.backend.hostname, mirror.backend.port || route.backend.port, conn, mirrorPolicy, pickContext), {
          method: facts.method,
          path: route.path,
          authority,
          headers: upstreamRequestHeaders(headers, authority),
          body: body.buffered ?? null,
        });
      }
    }
    // 5. deadline
    const deadline = new Deadline(route.timeouts, clock);
    const budget = this.#o.budgets.get(backendService);
    budget.recordRequest();
    let flags: ResponseFlag[] = [];
    const protocol = conn.protocol === 'http2' ? 'http2' : 'http1';
    /** The breaker's admission of the retry the next try is (maxRetries), held while that try runs. */
    let retrying: Admission | undefined;
    try {
      for (let attempt = 1; ; attempt++) {
        const signal = deadline.startTry();
        const thisRetry = retrying;
        retrying = undefined;
        // 9. breaker
        const admitted = this.#o.breakers.request(backendService, protocol, signal);
        if (admitted === 'overflow') {
          thisRetry?.release();
          this.#localReply(
            res,
            record,
            503,
            'upstream connect error or disconnect/reset before headers. reset reason: overflow\n',
            [...flags, 'UO'],
            'upstream_reset_before_response_started{overflow}',
          );
          return;
        }
        let admission: Admission;
        try {
          admission = admitted instanceof Promise ? await admitted : admitted;
        } catch {
          // Left the pending queue because the deadline passed or the client went away.
          thisRetry?.release();
          if (signal.reason instanceof TimeoutError) this.#localReply(res, record, 504, 'upstream request timeout\n', [...flags, 'UT'], 'response_timeout');
          else {
            record.status = 0;
            record.responseFlags = [...flags, 'DC'];
          }
          return;
        }
        try {
          // 10. balance
          const endpoint = this.#endpointFor(backendService, route.backend.port, conn, policy, pickContext);
          if (endpoint === undefined) {
            this.#localReply(res, record, 503, 'no healthy upstream\n', [...flags.filter((f) => f === 'URX'), 'UH'], 'no_healthy_upstream');
            return;
          }
          record.attempts = attempt;
          record.upstreamHost = `${endpoint.state.ip}:${endpoint.state.port}`;
          record.destinationWorkload = workloadLabels(endpoint.state.workload);
          picker.started(endpoint.state);
          const sentAt = clock.now();
          let latencyMs = 0; // to the response headers: what the balancer's latency estimate tracks
          let response: UpstreamResponse | undefined;
          let outcome: TryOutcome;
          let failure: EndpointError | TimeoutError | undefined;
          try {
            // 11. endpoint
            response = await endpoints.request(endpoint.upstream, {
              method: facts.method,
              path: route.path,
              authority,
              headers,
              body: body.stream ?? body.buffered ?? null,
              signal,
            });
            latencyMs = clock.now() - sentAt;
            outcome = { kind: 'response', status: response.statusCode };
          } catch (err) {
            picker.finished(endpoint.backend, endpoint.state, { latencyMs: clock.now() - sentAt, failure: endpointFailureOf(err, signal) });
            failure = err instanceof EndpointError && signal.aborted && signal.reason instanceof TimeoutError ? signal.reason : (err as EndpointError);
            if (!(err instanceof EndpointError)) throw err;
            outcome = { kind: 'error', code: tryFailureOf(err, signal), requestSent: err.requestSent };
          }
          // 8. retry
          let decision = retryDecision({
            method: facts.method,
            attempt,
            retry: route.retry,
            outcome,
            replayable,
            budget,
            remainingMs: deadline.remainingMs(),
            random: this.#random,
          });
          if (decision.retry) {
            const retryAdmission = this.#o.breakers.retry(backendService);
            if (retryAdmission === 'overflow') decision = MAX_RETRIES_REACHED;
            else retrying = retryAdmission;
          }
          if (decision.retry) {
            this.#o.metrics.countRetry(backendService, 'retried');
            if (response !== undefined) {
              response.body.destroy();
              picker.finished(endpoint.backend, endpoint.state, { latencyMs, status: response.statusCode });
            }
            admission.release();
            flags = ['URX'];
            if (!(await waitFor(decision.delayMs, deadline.signal, clock))) {
              this.#localReply(res, record, 504, 'upstream request timeout\n', ['UT'], 'request_timeout');
              return;
            }
            continue;
          }
          if (attempt > 1 || decision.reason !== 'success') {
            const counted =
              decision.reason === 'budget-exhausted' ? 'budget_exhausted' : decision.reason === 'attempts-exhausted' ? 'attempts_exhausted' : undefined;
            if (counted !== undefined) this.#o.metrics.countRetry(backendService, counted);
          }
          if (response === undefined) {
            const f = failure!;
            const flag: ResponseFlag = f instanceof TimeoutError ? 'UT' : (f.responseFlag as ResponseFlag);
            const status = f instanceof TimeoutError ? 504 : flag === 'DC' ? 0 : 503;
            if (status === 0 || res.destroyed) {
              record.status = 0;
              record.responseFlags = [...flags, 'DC'];
              return;
            }
            const text =
              f instanceof TimeoutError
                ? 'upstream request timeout\n'
                : `upstream connect error or disconnect/reset before headers. reset reason: ${f.message}\n`;
            this.#localReply(
              res,
              record,
              status,
              text,
              [...flags, flag],
              f instanceof TimeoutError ? 'response_timeout' : 'upstream_reset_before_response_started',
            );
            return;
          }
          try {
            await this.#respond(res, response, route, record, signal, endpoint.setCookie);
          } finally {
            picker.finished(endpoint.backend, endpoint.state, { latencyMs, status: response.statusCode });
          }
          record.responseFlags = flags.length > 0 ? flags : NO_FLAGS;
          return;
        } finally {
          admission.release();
          thisRetry?.release();
        }
      }
    } finally {
      retrying?.release();
      deadline.close();
    }
  }

  /** Response headers (with the route's modifiers and the balancer's cookie), the body, then trailers (gRPC). */
  async #respond(
    res: WaypointResponse,
    response: UpstreamResponse,
    route: ForwardDecision,
    record: RequestRecord,
    signal: AbortSignal,
    setCookie: string | undefined,
  ): Promise<void> {
    const headers: MutableHeaders = downstreamResponseHeaders(response.headers);
    for (const m of route.responseHeaders) applyHeaderModifier(headers, m);
    if (setCookie !== undefined) {
      const upstream = headers['set-cookie'];
      headers['set-cookie'] = upstream === undefined ? setCookie : [...(Array.isArray(upstream) ? upstream : [upstream]), setCookie];
    }
    headers['x-request-id'] ??= record.requestId;
    record.status = response.statusCode;
    const grpcStatus = header(response.headers['grpc-status']);
    if (grpcStatus !== undefined) record.grpcStatus = Number(grpcStatus);
    for (const [k, v] of Object.entries(headers)) if (v !== undefined) res.setHeader(k, v);
    const out = res as ResponseSink;
    out.writeHead(response.statusCode);
    try {
      for await (const chunk of response.body) {
        record.bytesSent += (chunk as Buffer).length;
        if (!out.write(chunk as Buffer)) await drained(res, signal);
      }
      const trailers = await response.trailers;
      if (Object.keys(trailers).length > 0) {
        if (trailers['grpc-status'] !== undefined) record.grpcStatus = Number(trailers['grpc-status']);
        res.addTrailers(trailers);
      }
      res.end();
    } catch (err) {
      // Headers are out: the only honest signal left is a reset of this stream.
      record.responseFlags = [err instanceof EndpointError ? (err.responseFlag as ResponseFlag) : 'UR'];
      res.destroy();
    }
  }

  /** The endpoint for one try: HBONE to the pod's ztunnel with the pod's identity. */
  #endpointFor(
    hostname: string,
    port: number,
    conn: InboundConnection<WaypointTarget>,
    policy: TrafficPolicy | undefined,
    ctx: PickContext,
  ): { state: StateEndpoint; upstream: Endpoint; backend: string; setCookie: string | undefined } | undefined {
    const target = conn.served;
    const candidates: StateEndpoint[] =
      target.kind === 'workload' ? [{ workload: target.workload, ip: conn.target.ip, port: conn.target.port }] : this.#o.state.endpoints(hostname, port);
    const backend = backendKey(hostname, port);
    const pick = this.#o.picker.pick(backend, candidates, policy, ctx);
    if (pick === undefined) return undefined;
    const picked = pick.endpoint;
    const upstream: Endpoint = {
      address: { ip: picked.ip, port: picked.port },
      hboneAddress: { ip: picked.ip, port: ports.hbone },
      identity: picked.workload.identity,
      protocol: conn.protocol === 'http2' ? 'http2' : 'http1',
    };
    const perConnection = policy?.connectionPool?.maxRequestsPerConnection;
    if (perConnection) upstream.maxRequestsPerConnection = perConnection;
    return { backend, setCookie: pick.setCookie, state: picked, upstream };
  }

  async #bodyOf(req: WaypointRequest, facts: RequestFacts): Promise<{ buffered?: Buffer; stream?: Readable }> {
    const length = Number(req.headers['content-length'] ?? Number.NaN);
    const hasBody = !Number.isNaN(length) ? length > 0 : req.headers['transfer-encoding'] !== undefined || facts.grpc !== undefined;
    if (!hasBody && req.readableEnded) return {};
    if (facts.grpc === undefined && !Number.isNaN(length) && length <= this.#maxReplay) {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      return { buffered: Buffer.concat(chunks) };
    }
    if (!hasBody) {
      // HTTP/2 without content-length: read what comes, up to the replay limit.
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of req) {
        chunks.push(c as Buffer);
        size += (c as Buffer).length;
        if (size > this.#maxReplay) break;
      }
      if (size <= this.#maxReplay) return { buffered: Buffer.concat(chunks) };
    }
    return { stream: req as unknown as Readable };
  }

  /**
   * A reply made by the waypoint itself. To a gRPC call, as Envoy's local replies: trailers-only,
   * HTTP 200 with the status mapped to `grpc-status` and the text as `grpc-message` (a gRPC
   * client reads nothing else).
   */
  #localReply(
    res: WaypointResponse,
    record: RequestRecord,
    status: number,
    body: string,
    flags: readonly ResponseFlag[],
    details: string,
    headers: Readonly<Record<string, string>> = { 'content-type': 'text/plain' },
  ): void {
    if (record.protocol === 'grpc') {
      const { 'content-type': _, ...rest } = headers;
      this.#localGrpcStatus(res, record, grpcStatusOfHttp(status), body.trim(), flags, details, rest);
      return;
    }
    this.#write(res, record, status, body, flags, details, headers);
  }

  /** A trailers-only gRPC reply (HTTP 200, `grpc-status`, `grpc-message`). */
  #localGrpcStatus(
    res: WaypointResponse,
    record: RequestRecord,
    grpcStatus: number,
    message: string,
    flags: readonly ResponseFlag[],
    details: string,
    headers: Readonly<Record<string, string>> = {},
  ): void {
    record.grpcStatus = grpcStatus;
    this.#write(res, record, 200, '', flags, details, {
      ...headers,
      'content-type': 'application/grpc',
      'grpc-status': String(grpcStatus),
      'grpc-message': encodeURIComponent(message),
    });
  }

  #write(
    res: WaypointResponse,
    record: RequestRecord,
    status: number,
    body: string,
    flags: readonly ResponseFlag[],
    details: string,
    headers: Readonly<Record<string, string>>,
  ): void {
    record.status = status;
    record.responseFlags = flags.length > 0 ? flags : NO_FLAGS;
    record.responseCodeDetails = details;
    record.bytesSent = Buffer.byteLength(body);
    if (res.headersSent || res.destroyed) return;
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    res.setHeader('x-request-id', record.requestId);
    if (body !== '') res.setHeader('content-length', Buffer.byteLength(body));
    (res as ResponseSink).writeHead(status);
    res.end(body);
  }
}

/** Envoy's HTTP → gRPC status mapping for local replies (Grpc::Utility::httpToGrpcStatus). */
function grpcStatusOfHttp(status: number): number {
  switch (status) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 12; // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return 14; // UNAVAILABLE
    default:
      return 2; // UNKNOWN
  }
}

/** What a request passes through, as policies attach to it: the waypoint, the Service, the matched route. */
function policyScope(state: WaypointState, service: { name: string; namespace: string } | undefined, route: RouteDecision): RateLimitScope & FaultScope {
  const scope: RateLimitScope & FaultScope = { gateway: { namespace: state.config?.namespace ?? '', name: state.config?.name ?? '' } };
  if (service !== undefined) scope.service = { namespace: service.namespace, name: service.name };
  if (route.kind !== 'no-route' && route.routeKind !== undefined && route.route !== '') {
    const slash = route.route.indexOf('/');
    scope.route = { namespace: route.route.slice(0, slash), name: route.route.slice(slash + 1), kind: route.routeKind };
  }
  return scope;
}

/** Fires when the client goes away (the response closes before it ends). */
function closedSignal(res: WaypointResponse): AbortSignal {
  const controller = new AbortController();
  if (res.destroyed) controller.abort();
  else res.once('close', () => controller.abort());
  return controller.signal;
}

function requestFactsOf(req: WaypointRequest, conn: InboundConnection<WaypointTarget>): RequestFacts {
  const raw = req.url ?? '/';
  const q = raw.indexOf('?');
  // Istio's BASE normalization before anything looks at the path; the query is kept as sent.
  const path = authorizationPath(q < 0 ? raw : raw.slice(0, q)) + (q < 0 ? '' : raw.slice(q));
  const authority = header(req.headers[':authority']) ?? header(req.headers.host) ?? `${conn.target.ip}:${conn.target.port}`;
  const facts: RequestFacts = { method: (req.method ?? 'GET').toUpperCase(), path, authority, headers: req.headers, port: conn.target.port };
  const contentType = header(req.headers['content-type']);
  if (contentType?.startsWith('application/grpc')) {
    const call = parseGrpcPath(path);
    if (call !== undefined) facts.grpc = call;
  }
  return facts;
}

function workloadForward(facts: RequestFacts): ForwardDecision {
  return {
    kind: 'forward',
    route: '',
    rule: -1,
    backend: { hostname: '', port: facts.port },
    path: facts.path,
    requestHeaders: [],
    responseHeaders: [],
    mirrors: [],
  };
}

function labelsOf(w: Parameters<typeof workloadLabels>[0] | undefined): ReturnType<typeof workloadLabels> | undefined {
  return w === undefined ? undefined : workloadLabels(w);
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * What a failed try says about its endpoint (outlier detection, latency estimate): a try timeout,
 * a connect failure, a reset or an invalid answer count against it; the client going away, the
 * waypoint closing or a request it could not send do not.
 */
function endpointFailureOf(err: unknown, signal: AbortSignal): EndpointFailure {
  if (!(err instanceof EndpointError)) return 'cancelled';
  if (signal.aborted) return signal.reason instanceof TimeoutError ? 'timeout' : 'cancelled';
  if (err.code === 'ERR_ENDPOINT_CONNECT') return 'connect';
  if (err.code === 'ERR_ENDPOINT_RESET' || err.code === 'ERR_ENDPOINT_PROTOCOL') return 'reset';
  return 'cancelled';
}

function tryFailureOf(err: EndpointError, signal: AbortSignal): Extract<TryOutcome, { kind: 'error' }>['code'] {
  if (signal.aborted) return 'timeout';
  if (err.code === 'ERR_ENDPOINT_CONNECT') return 'connect-failure';
  if (err.responseFlag === 'UR' && !err.requestSent) return 'refused-stream';
  return 'reset';
}

/** Waits `ms` unless the request deadline fires first: true when the wait completed. */
function waitFor(ms: number, stop: AbortSignal, clock: Clock): Promise<boolean> {
  if (stop.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((done) => {
    const timer = clock.setTimeout(() => {
      stop.removeEventListener('abort', onAbort);
      done(true);
    }, ms);
    const onAbort = (): void => {
      clock.clearTimeout(timer);
      done(false);
    };
    stop.addEventListener('abort', onAbort, { once: true });
  });
}

function drained(res: WaypointResponse, signal: AbortSignal): Promise<void> {
  return new Promise((done, fail) => {
    const onDrain = (): void => {
      cleanup();
      done();
    };
    const onClose = (): void => {
      cleanup();
      fail(
        new EndpointError('ERR_ENDPOINT_ABORTED', 'the client went away while the response was being sent', {
          responseFlag: 'DC',
          requestSent: true,
          responseStarted: true,
        }),
      );
    };
    const cleanup = (): void => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      signal.removeEventListener('abort', onClose);
    };
    res.once('drain', onDrain);
    res.once('close', onClose);
    signal.addEventListener('abort', onClose, { once: true });
  });
}

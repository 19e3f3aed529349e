// Pure: an `admission.k8s.io/v1` AdmissionReview in, the AdmissionReview the API server expects
// back. Every review that is well formed is answered `allowed: true` (the injector never refuses
// a pod): with a base64 JSON patch when the pod is injected, without one when it is not (a
// skip reason says why, for the log). A malformed review is an error naming the field at fault,
// which the server answers 400: the API server then applies the webhook's failurePolicy.
import { MeshError } from '@ambient/api';
import type { KubeObject, Manifest } from '../model/inputs.ts';
import type { ProxyPodOptions } from '../proxy-pod.ts';
import { conflictingVolume, injectionSkipReason, sidecarInjectionPatch } from './sidecar-template.ts';

export const admissionApiVersion = 'admission.k8s.io/v1';
/** The webhook's path, as Istio's. */
export const INJECT_PATH = '/inject';

/** A request body that is not a v1 AdmissionReview of the shape the API server sends. */
export class MalformedReviewError extends MeshError<'ERR_ADMISSION_REVIEW'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_ADMISSION_REVIEW', `malformed AdmissionReview: ${message}`, options);
  }
}

export interface InjectionContext {
  rootNamespace: string;
  /** What the injected proxy is told about the control plane (as waypoint pods). */
  pod: ProxyPodOptions;
}

export interface AdmissionResponse {
  uid: string;
  allowed: true;
  patchType?: 'JSONPatch';
  /** base64 of the JSON patch. */
  patch?: string;
  warnings?: string[];
}

export interface ReviewAnswer {
  review: { apiVersion: typeof admissionApiVersion; kind: 'AdmissionReview'; response: AdmissionResponse };
  /** injected; skipped (a pod that must not be injected); ignored (not a pod CREATE). */
  outcome: 'injected' | 'skipped' | 'ignored';
  /** Why it was skipped or ignored. */
  reason?: string;
  /** "<namespace>/<name or generateName>" for the log. */
  pod: string;
}

const isObject = (v: unknown): v is Record<string, Manifest> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses the request body (JSON text) and answers it; throws MalformedReviewError. */
export function answerAdmissionReview(bodyText: string, ctx: InjectionContext): ReviewAnswer {
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch (err) {
    throw new MalformedReviewError(`body is not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!isObject(body)) throw new MalformedReviewError(`body is ${describe(body)}, not an object`);
  if (body.apiVersion !== admissionApiVersion) throw new MalformedReviewError(`apiVersion ${describe(body.apiVersion)} is not ${admissionApiVersion}`);
  if (body.kind !== 'AdmissionReview') throw new MalformedReviewError(`kind ${describe(body.kind)} is not AdmissionReview`);
  const request = body.request;
  if (!isObject(request)) throw new MalformedReviewError('request is missing');
  const uid = request.uid;
  if (typeof uid !== 'string' || uid === '') throw new MalformedReviewError(`request.uid ${describe(uid)} is not a non-empty string`);

  const answer = (outcome: ReviewAnswer['outcome'], pod: string, response: Omit<AdmissionResponse, 'uid' | 'allowed'> = {}, reason?: string): ReviewAnswer => ({
    review: { apiVersion: admissionApiVersion, kind: 'AdmissionReview', response: { uid, allowed: true, ...response } },
    outcome,
    pod,
    ...(reason !== undefined ? { reason } : {}),
  });

  const kind = isObject(request.kind) ? request.kind : {};
  const what = `${kind.group ? `${kind.group}/` : ''}${kind.version ?? '?'} ${kind.kind ?? '?'} ${request.operation ?? '?'}`;
  // Only pod creations are injected; anything else reaching here is let through untouched.
  if (!((kind.group ?? '') === '' && kind.kind === 'Pod' && request.operation === 'CREATE')) {
    return answer('ignored', `${request.namespace ?? ''}/${request.name ?? ''}`, {}, `not a pod CREATE (${what})`);
  }
  const pod = request.object as KubeObject;
  if (!isObject(pod)) throw new MalformedReviewError('request.object is missing');
  if (!isObject(pod.metadata)) throw new MalformedReviewError('request.object.metadata is missing');
  if (!isObject(pod.spec)) throw new MalformedReviewError('request.object.spec is missing');
  if (!Array.isArray(pod.spec.containers)) throw new MalformedReviewError(`request.object.spec.containers is ${describe(pod.spec.containers)}, not a list`);
  // A pod being created may carry no namespace yet; the review always names it.
  const namespace = typeof request.namespace === 'string' && request.namespace !== '' ? request.namespace : (pod.metadata.namespace ?? '');
  if (typeof namespace !== 'string' || namespace === '') throw new MalformedReviewError('request.namespace is missing');
  const name = `${namespace}/${pod.metadata.name || pod.metadata.generateName || ''}`;

  const skip = injectionSkipReason(pod, namespace, ctx.rootNamespace);
  if (skip !== undefined) return answer('skipped', name, {}, skip);
  const clash = conflictingVolume(pod);
  if (clash !== undefined) {
    // The user asked for a sidecar and does not get one: kubectl prints the warning.
    const reason = `the pod already has a volume named ${clash}`;
    return answer('skipped', name, { warnings: [`sidecar not injected: ${reason}`] }, reason);
  }
  const patch = Buffer.from(JSON.stringify(sidecarInjectionPatch(pod, ctx.pod))).toString('base64');
  return answer('injected', name, { patchType: 'JSONPatch', patch });
}

function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return JSON.stringify(v);
}

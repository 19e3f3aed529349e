// Who is calling istiod-lite, as proven by a Kubernetes ServiceAccount token (TokenReview).
import { MeshError } from '@ambient/api';

export interface Caller {
  /** system:serviceaccount:<namespace>:<name> */
  username: string;
  namespace: string;
  serviceAccount: string;
  /** From a pod-bound token: the pod and the node it runs on. */
  podName?: string;
  podUid?: string;
  nodeName?: string;
}

export interface Authenticator {
  /** Resolves the caller of a bearer token, or rejects with UnauthenticatedError saying why. */
  authenticate(token: string): Promise<Caller>;
}

export class UnauthenticatedError extends MeshError<'ERR_UNAUTHENTICATED'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_UNAUTHENTICATED', message, options);
  }
}

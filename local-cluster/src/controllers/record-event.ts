// core/v1 Events, best effort: a lost event must never fail a reconcile.
import type { CoreV1Api } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { randomBytes } from 'node:crypto';

export interface EventTarget {
  kind: string;
  name: string;
  namespace: string;
  uid?: string;
  apiVersion?: string;
}

export async function recordEvent(
  core: CoreV1Api,
  logger: Logger,
  target: EventTarget,
  type: 'Normal' | 'Warning',
  reason: string,
  message: string,
  component: string,
  host?: string,
): Promise<void> {
  const now = new Date();
  try {
    await core.createNamespacedEvent({
      namespace: target.namespace,
      body: {
        metadata: { name: `${target.name}.${randomBytes(8).toString('hex')}`, namespace: target.namespace },
        involvedObject: { kind: target.kind, name: target.name, namespace: target.namespace, uid: target.uid, apiVersion: target.apiVersion ?? 'v1' },
        reason,
        message,
        type,
        source: host ? { component, host } : { component },
        reportingComponent: component,
        reportingInstance: host ?? component,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
  } catch (err) {
    logger.debug({ err, reason, target: `${target.namespace}/${target.name}` }, 'event not recorded');
  }
}

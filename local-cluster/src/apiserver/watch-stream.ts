// The watch wire protocol: a chunked stream of newline-delimited JSON events. Events are
// filtered per watcher (namespace, label and field selectors, with the real server's
// transitions: an object that stops matching is DELETED, one that starts matching ADDED),
// and, except for Table watches, the encoded bytes are shared by all watchers.
import type { ServerResponse } from 'node:http';
import { ApiError } from '../apimachinery/errors.ts';
import { parseFieldSelector } from '../apimachinery/field-selector.ts';
import { parseLabelSelector } from '../apimachinery/label-selector.ts';
import { toTable } from '../apimachinery/table.ts';
import { groupVersion, type KubeObject, type ResourceInfo } from '../apimachinery/types.ts';
import { resourceKey, type Store, type StoreEvent, type StoreEventType } from './store.ts';

export interface WatchRequest {
  resource: ResourceInfo;
  namespace: string | undefined;
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  allowWatchBookmarks: boolean;
  sendInitialEvents: boolean;
  timeoutSeconds?: number;
  /** Set when the client asked for Table rows (kubectl get -w). */
  table?: { includeObject: 'None' | 'Metadata' | 'Object' };
}

/** Above this much unsent data a watcher is too slow and is disconnected (it will resume). */
const MAX_BUFFERED = 64 * 1024 * 1024;

/**
 * Serves one watch on `res` until the client leaves, the timeout passes or the returned
 * function is called (server shutdown). Selector errors throw before anything is written.
 */
export function serveWatch(res: ServerResponse, store: Store, w: WatchRequest, opts: { bookmarkIntervalMs: number }): () => void {
  const labels = parseLabelSelector(w.labelSelector ?? '');
  const fields = parseFieldSelector(w.fieldSelector ?? '');
  const ns = w.resource.namespaced ? w.namespace : undefined;
  const matches = (o: KubeObject | undefined): boolean =>
    o !== undefined && (ns === undefined || o.metadata.namespace === ns) && labels(o.metadata.labels) && fields(o);
  const apiVersion = groupVersion(w.resource);
  const key = resourceKey(w.resource);
  let fromRv: number | undefined;
  if (w.resourceVersion !== undefined && w.resourceVersion !== '' && w.resourceVersion !== '0') {
    fromRv = Number(w.resourceVersion);
    if (!Number.isSafeInteger(fromRv) || fromRv < 0) throw new ApiError('BadRequest', `invalid resource version: ${w.resourceVersion}`);
  }
  const replayState = fromRv === undefined || w.sendInitialEvents;

  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
  res.flushHeaders();

  let closed = false;
  let unsubscribe = (): void => {};
  const timers: NodeJS.Timeout[] = [];
  const close = (): void => {
    if (closed) return;
    flush();
    closed = true;
    unsubscribe();
    for (const t of timers) clearTimeout(t);
    res.end();
  };
  res.on('close', close);

  // Events arrive in bursts; one write per burst instead of one per event keeps TLS records
  // and syscalls per watcher low when many watchers follow a busy resource.
  let pending: (Buffer | string)[] = [];
  const flush = (): void => {
    if (closed || pending.length === 0) return;
    const chunk = pending.length === 1 ? pending[0]! : Buffer.concat(pending.map((b) => (typeof b === 'string' ? Buffer.from(b) : b)));
    pending = [];
    res.write(chunk);
    if (res.writableLength > MAX_BUFFERED) close();
  };
  const send = (bytes: Buffer | string): void => {
    if (closed) return;
    if (pending.push(bytes) === 1) setImmediate(flush);
  };
  const encodeOwn = (type: string, object: unknown): string => JSON.stringify({ type, object }) + '\n';
  const sendObject = (type: StoreEventType, obj: KubeObject, event?: StoreEvent): void => {
    if (w.table) {
      const table = toTable(w.resource, [obj], {
        includeObject: w.table.includeObject,
        now: new Date(),
        listMeta: { resourceVersion: obj.metadata.resourceVersion ?? '' },
      });
      send(encodeOwn(type, table));
    } else if (event) {
      send(event.encode(type, apiVersion));
    } else {
      send(encodeOwn(type, obj.apiVersion === apiVersion ? obj : { ...obj, apiVersion }));
    }
  };
  const bookmark = (annotations?: Record<string, string>): void => {
    const metadata: Record<string, unknown> = { resourceVersion: String(store.revision) };
    if (annotations) metadata.annotations = annotations;
    send(encodeOwn('BOOKMARK', { kind: w.resource.kind, apiVersion, metadata }));
  };

  const listener = (e: StoreEvent): void => {
    const now = matches(e.object);
    const before = e.type === 'ADDED' ? false : matches(e.prev);
    if (e.type === 'DELETED') {
      if (before) sendObject('DELETED', e.object, e);
    } else if (now && before) sendObject('MODIFIED', e.object, e);
    else if (now) sendObject('ADDED', e.object, e);
    else if (before) sendObject('DELETED', e.object, e);
  };

  try {
    if (replayState) {
      for (const o of store.list(key, ns).items) if (matches(o)) sendObject('ADDED', o);
      if (w.sendInitialEvents && w.allowWatchBookmarks) bookmark({ 'k8s.io/initial-events-end': 'true' });
      unsubscribe = store.watch(key, undefined, listener);
    } else {
      unsubscribe = store.watch(key, fromRv, listener);
    }
  } catch (err) {
    const status = err instanceof ApiError ? err.toStatus() : new ApiError('InternalError', String(err)).toStatus();
    send(encodeOwn('ERROR', status));
    close();
    return close;
  }
  if (w.allowWatchBookmarks) {
    const t = setInterval(() => bookmark(), opts.bookmarkIntervalMs);
    t.unref();
    timers.push(t);
  }
  if (w.timeoutSeconds !== undefined && w.timeoutSeconds > 0) {
    const t = setTimeout(close, w.timeoutSeconds * 1000);
    t.unref();
    timers.push(t);
  }
  return close;
}

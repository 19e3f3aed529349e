// `pods/{name}/log`: streams the container log file the kubelet writes under
// <dataDir>/pods/<namespace>_<name>_<uid>/<container>.log (`<container>.previous.log` for
// ?previous=true). follow keeps sending appended bytes until the pod is deleted or the client
// goes away; the file is polled because fs.watch is unreliable across filesystems.
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { ApiError, badRequest } from '../apimachinery/errors.ts';
import type { KubeObject } from '../apimachinery/types.ts';
import type { Store } from './store.ts';

export interface LogRequest {
  container?: string;
  follow: boolean;
  tailLines?: number;
  previous: boolean;
}

const POLL_MS = 200;
const CHUNK = 64 * 1024;

export function podLogPath(dataDir: string, pod: KubeObject, container: string, previous: boolean): string {
  const m = pod.metadata;
  return join(dataDir, 'pods', `${m.namespace}_${m.name}_${m.uid}`, `${container}${previous ? '.previous' : ''}.log`);
}

/** Which container a log request means; throws the real server's BadRequest when ambiguous. */
export function pickContainer(pod: KubeObject, requested: string | undefined): string {
  const spec = (pod.spec ?? {}) as { containers?: { name: string }[]; initContainers?: { name: string }[] };
  const names = (spec.containers ?? []).map((c) => c.name);
  const all = [...names, ...(spec.initContainers ?? []).map((c) => c.name)];
  if (requested) {
    if (!all.includes(requested)) throw badRequest(`container ${requested} is not valid for pod ${pod.metadata.name}`);
    return requested;
  }
  if (names.length === 1) return names[0]!;
  throw badRequest(`a container name must be specified for pod ${pod.metadata.name}, choose one of: [${names.join(' ')}]`);
}

/** Byte offset where the last `lines` lines of a file start. */
export function tailOffset(fd: number, size: number, lines: number): number {
  if (lines <= 0) return size;
  let pos = size;
  let seen = 0;
  const buf = Buffer.alloc(CHUNK);
  // A trailing newline ends the last line; it does not start a new one.
  let skipLast = true;
  while (pos > 0) {
    const n = Math.min(CHUNK, pos);
    pos -= n;
    readSync(fd, buf, 0, n, pos);
    for (let i = n - 1; i >= 0; i--) {
      if (buf[i] !== 0x0a) {
        skipLast = false;
        continue;
      }
      if (skipLast && pos + i === size - 1) continue;
      if (++seen === lines) return pos + i + 1;
    }
  }
  return 0;
}

/** Streams a pod's log to `res`; returns a function that stops a follow (server shutdown). */
export function serveLogs(res: ServerResponse, store: Store, dataDir: string, pod: KubeObject, req: LogRequest): () => void {
  const container = pickContainer(pod, req.container);
  const path = podLogPath(dataDir, pod, container, req.previous);
  if (!existsSync(path)) {
    throw req.previous
      ? badRequest(`previous terminated container "${container}" in pod "${pod.metadata.name}" not found`)
      : badRequest(`container "${container}" in pod "${pod.metadata.name}" is waiting to start: ContainerCreating`);
  }
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new ApiError('InternalError', `cannot open log file ${path}: ${(err as Error).message}`, undefined, { cause: err });
  }
  let offset = req.tailLines !== undefined ? tailOffset(fd, statSync(path).size, req.tailLines) : 0;
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  let done = false;
  let timer: NodeJS.Timeout | undefined;
  let unsubscribe = (): void => {};
  const buf = Buffer.alloc(CHUNK);
  const pump = (): void => {
    for (let i = 0; i < 1024; i++) {
      const n = readSync(fd, buf, 0, CHUNK, offset);
      if (n === 0) break;
      offset += n;
      res.write(Buffer.from(buf.subarray(0, n)));
    }
  };
  const stop = (): void => {
    if (done) return;
    done = true;
    if (timer) clearInterval(timer);
    unsubscribe();
    try {
      pump();
    } catch {
      // the file may be gone with the pod; what was sent stays sent
    }
    closeSync(fd);
    res.end();
  };
  pump();
  if (!req.follow) {
    stop();
    return stop;
  }
  res.on('close', stop);
  timer = setInterval(() => {
    try {
      pump();
    } catch {
      stop();
    }
  }, POLL_MS);
  unsubscribe = store.watch('/pods', undefined, (e) => {
    if (e.type === 'DELETED' && e.object.metadata.uid === pod.metadata.uid) stop();
  });
  return stop;
}

// Loads the native addon (ztunnel/native, built by node-gyp at `npm install`). Loaded lazily so
// that code and tests which never touch a socket in another netns work without it.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { CaptureError } from './capture-error.ts';

export interface NativeSocketOptions {
  /** SO_MARK: the pod's capture rules skip packets carrying ztunnel's mark. */
  mark?: number;
  /** IP_TRANSPARENT: bind or send from an address that is not local (source spoofing). */
  transparent?: boolean;
  /** IP_FREEBIND: bind to an address not (yet) configured on an interface. */
  freebind?: boolean;
}

export interface OriginalDst {
  address: string;
  port: number;
}

/** The addon's surface. Each call throws an Error whose message names the syscall and the
 *  value (`setns /run/netns/x: ENOENT (...)`) and whose `code` is the errno name. */
export interface ZtunnelNative {
  /** A listening TCP (IPv4) socket created inside the netns; SO_REUSEADDR is always set. */
  listenInNetns(netnsPath: string, host: string, port: number, backlog: number, options?: NativeSocketOptions): number;
  /** An unconnected TCP (IPv4) socket created inside the netns, for Node to connect. */
  socketInNetns(netnsPath: string, options?: NativeSocketOptions): number;
  originalDst(fd: number): OriginalDst;
  setMark(fd: number, mark: number): void;
  /** glibc's malloc_trim(0): freed heap pages back to the kernel; true if any were. */
  trimMalloc(): boolean;
  /** V8's Isolate::LowMemoryNotification: a compacting full GC that releases the heap's empty pages. */
  lowMemoryNotification(): void;
}

export const nativeAddonPath = resolve(import.meta.dirname, '../../native/build/Release/ztunnel_native.node');

let loaded: ZtunnelNative | undefined;

export function loadNative(path: string = nativeAddonPath): ZtunnelNative {
  if (loaded && path === nativeAddonPath) return loaded;
  const fix = 'build it with `npm run build:native -w ztunnel` (or `npm install` at the repository root; needs g++, make, python3 and Node headers)';
  if (!existsSync(path)) {
    throw new CaptureError('ERR_NATIVE_NOT_BUILT', `native addon not built: ${path} is missing; ${fix}`);
  }
  let addon: ZtunnelNative;
  try {
    addon = createRequire(import.meta.url)(path) as ZtunnelNative;
  } catch (cause) {
    throw new CaptureError('ERR_NATIVE_NOT_BUILT', `native addon ${path} does not load: ${(cause as Error).message}; rebuild it: ${fix}`, { cause });
  }
  if (path === nativeAddonPath) loaded = addon;
  return addon;
}

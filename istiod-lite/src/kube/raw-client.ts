// Talks to any resource path with the objects exactly as the API server sends them. The typed
// client-node APIs turn timestamps into Date objects while watch events keep them as strings
// (and serialize MicroTime with millisecond precision); caches and status writers fed by both
// would hold two shapes of the same object, so istiod-lite reads and writes through here.
import { HttpMethod, KubernetesObjectApi, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';

export class RawClient extends KubernetesObjectApi {
  static create(kc: KubeConfig): RawClient {
    return kc.makeApiClient(RawClient);
  }

  /** GET a collection (e.g. `/api/v1/pods`), items stamped with the list's apiVersion and kind. */
  async listRaw<T extends KubernetesObject>(path: string, apiVersion: string, kind: string): Promise<KubernetesListObject<T>> {
    const list = await this.send<KubernetesListObject<T>>(HttpMethod.GET, path);
    // Items of a list carry no apiVersion/kind on the wire; watch events do. Make them alike.
    list.items ??= [];
    for (const item of list.items) {
      item.apiVersion ??= apiVersion;
      item.kind ??= kind;
    }
    return list;
  }

  get<T = KubernetesObject>(path: string): Promise<T> {
    return this.send<T>(HttpMethod.GET, path);
  }

  post<T = KubernetesObject>(path: string, body: object): Promise<T> {
    return this.send<T>(HttpMethod.POST, path, body, 'application/json');
  }

  put<T = KubernetesObject>(path: string, body: object): Promise<T> {
    return this.send<T>(HttpMethod.PUT, path, body, 'application/json');
  }

  mergePatch<T = KubernetesObject>(path: string, body: object): Promise<T> {
    return this.send<T>(HttpMethod.PATCH, path, body, 'application/merge-patch+json');
  }

  async send<T>(method: HttpMethod, path: string, body?: object, contentType?: string): Promise<T> {
    const ctx = this.configuration.baseServer.makeRequestContext(path, method);
    ctx.setHeaderParam('Accept', 'application/json');
    if (body !== undefined) {
      ctx.setHeaderParam('Content-Type', contentType ?? 'application/json');
      ctx.setBody(JSON.stringify(body));
    }
    // 'any' is a primitive to the serializer: the parsed JSON comes back untouched.
    return (await this.requestPromise(ctx, 'any')) as T;
  }
}

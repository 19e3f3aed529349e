// Which cluster and namespace a command talks to, chosen the way kubectl chooses: --kubeconfig
// (else $KUBECONFIG, else ~/.kube/config), --context (else the current one), -n/--namespace
// (else the context's namespace, else "default"). kubectl passes none of its own flags to a
// plugin, so the plugin takes the same ones.
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';

export interface KubeFlags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  allNamespaces?: boolean;
}

export interface KubeContext {
  kubeConfig: KubeConfig;
  /** The namespace to act in; undefined with --all-namespaces. */
  namespace: string | undefined;
  core: CoreV1Api;
  apps: AppsV1Api;
  custom: CustomObjectsApi;
}

export function kubeContext(flags: KubeFlags): KubeContext {
  const kubeConfig = new KubeConfig();
  if (flags.kubeconfig) kubeConfig.loadFromFile(flags.kubeconfig);
  else kubeConfig.loadFromDefault();
  if (flags.context) {
    if (!kubeConfig.getContextObject(flags.context)) {
      throw new Error(
        `context ${JSON.stringify(flags.context)} not found in the kubeconfig (contexts: ${
          kubeConfig
            .getContexts()
            .map((c) => c.name)
            .join(', ') || 'none'
        })`,
      );
    }
    kubeConfig.setCurrentContext(flags.context);
  }
  const fromContext = kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace;
  return {
    kubeConfig,
    namespace: flags.allNamespaces ? undefined : (flags.namespace ?? fromContext ?? 'default'),
    core: kubeConfig.makeApiClient(CoreV1Api),
    apps: kubeConfig.makeApiClient(AppsV1Api),
    custom: kubeConfig.makeApiClient(CustomObjectsApi),
  };
}

// The kubeconfig written next to the cluster's state: `KUBECONFIG=<dataDir>/kubeconfig
// kubectl get pods` works with no other setup.
import { dump as dumpYaml } from 'js-yaml';

export const CONTEXT = 'local-cluster';
export const USER = 'admin';

export function renderKubeconfig(opts: { server: string; caCertPem: string; token: string }): string {
  return dumpYaml({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: CONTEXT, cluster: { server: opts.server, 'certificate-authority-data': Buffer.from(opts.caCertPem).toString('base64') } }],
    users: [{ name: USER, user: { token: opts.token } }],
    contexts: [{ name: CONTEXT, context: { cluster: CONTEXT, user: USER, namespace: 'default' } }],
    'current-context': CONTEXT,
    preferences: {},
  });
}

// Test fixture: makes the embedded API server serve
// admissionregistration.k8s.io/v1 mutatingwebhookconfigurations. When it serves them itself
// (built in), nothing is done; otherwise a cluster-scoped CRD of the same group, version, kind
// and plural stands in, so the webhook configuration writer is tested through the same REST
// paths, typed client, watch and kubectl as against a real API server.
import { setTimeout as sleep } from 'node:timers/promises';
import { AdmissionregistrationV1Api, ApiextensionsV1Api, type KubeConfig, loadYaml, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { isNotFound } from '@ambient/api/kube';

// YAML through client-node's loader, which builds its typed model: a plain object's
// x-kubernetes-preserve-unknown-fields would be dropped on the way out, and every webhook pruned.
const standIn = loadYaml<V1CustomResourceDefinition>(`
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: mutatingwebhookconfigurations.admissionregistration.k8s.io }
spec:
  group: admissionregistration.k8s.io
  scope: Cluster
  names: { kind: MutatingWebhookConfiguration, listKind: MutatingWebhookConfigurationList, plural: mutatingwebhookconfigurations, singular: mutatingwebhookconfiguration }
  versions:
    - name: v1
      served: true
      storage: true
      schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
`);

/** Resolves 'built-in' or 'stand-in' once mutatingwebhookconfigurations are served. */
export async function serveMutatingWebhookConfigurations(kc: KubeConfig): Promise<'built-in' | 'stand-in'> {
  try {
    const resources = await kc.makeApiClient(AdmissionregistrationV1Api).getAPIResources();
    if (resources.resources.some((r) => r.name === 'mutatingwebhookconfigurations')) return 'built-in';
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  const crds = kc.makeApiClient(ApiextensionsV1Api);
  await crds.createCustomResourceDefinition({ body: standIn });
  for (let i = 0; i < 200; i++) {
    const crd = await crds.readCustomResourceDefinition({ name: standIn.metadata!.name! });
    if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return 'stand-in';
    await sleep(25);
  }
  throw new Error('the stand-in MutatingWebhookConfiguration CRD was not established in 5 s');
}

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { loadAll } from 'js-yaml';

const EXAMPLES = path.join(import.meta.dirname, '..');

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: any;
}

describe('examples/manifests/echo.yaml', () => {
  const docs = loadAll(fs.readFileSync(path.join(EXAMPLES, 'manifests', 'echo.yaml'), 'utf8')) as Obj[];
  const find = (kind: string, name: string): Obj => {
    const found = docs.find((d) => d.kind === kind && d.metadata.name === name);
    assert.ok(found, `${kind}/${name} missing`);
    return found;
  };

  it('holds the demo namespace, the apps ServiceAccounts, the echo deployment and service, and the sleep client', () => {
    assert.deepEqual(
      docs.map((d) => `${d.kind}/${d.metadata.name}`),
      ['Namespace/demo', 'ServiceAccount/echo', 'ServiceAccount/sleep', 'Deployment/echo', 'Service/echo', 'Deployment/sleep'],
    );
    for (const d of docs.slice(1)) assert.equal(d.metadata.namespace, 'demo');
  });

  it('runs ambient-echo with the downward-API env the server reports', () => {
    for (const name of ['echo', 'sleep']) {
      const deployment = find('Deployment', name);
      const container = deployment.spec.template.spec.containers[0];
      assert.equal(container.command[0], 'ambient-echo');
      assert.equal(container.image, 'ambient/echo:local');
      const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.valueFrom.fieldRef.fieldPath]));
      assert.deepEqual(env, { POD_NAME: 'metadata.name', POD_NAMESPACE: 'metadata.namespace', NODE_NAME: 'spec.nodeName', POD_IP: 'status.podIP' });
      assert.deepEqual(deployment.spec.selector.matchLabels, { app: name });
      assert.equal(deployment.spec.template.metadata.labels.app, name);
    }
    assert.equal(find('Deployment', 'echo').spec.replicas, 2);
  });

  it('exposes the echo pods on service port 80 named http', () => {
    const service = find('Service', 'echo');
    assert.deepEqual(service.spec.selector, { app: 'echo' });
    assert.deepEqual(service.spec.ports, [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }]);
  });

  it('ships an executable ambient-echo wrapper', () => {
    const stat = fs.statSync(path.join(EXAMPLES, 'bin', 'ambient-echo'));
    assert.ok(stat.mode & 0o111, 'bin/ambient-echo is not executable');
  });
});

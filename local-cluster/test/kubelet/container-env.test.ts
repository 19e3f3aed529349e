import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { ContainerConfigError, DEFAULT_PATH, expandVars, renderContainerLaunch } from '../../src/kubelet/container-env.ts';

const facts = { podIP: '10.244.1.5', hostIP: '10.250.0.1', binPath: ['/opt/lc/bin'] };

function pod(container: Record<string, unknown>): V1Pod {
  return {
    metadata: { name: 'web-1', namespace: 'shop', uid: 'u-1', labels: { app: 'web' } },
    spec: { nodeName: 'node1', serviceAccountName: 'web-sa', containers: [{ name: 'app', ...container }] },
  } as V1Pod;
}

describe('container launch rendering', () => {
  it('renders the downward API, literal values and $(VAR) references', () => {
    const p = pod({
      command: ['/bin/app', '--name=$(POD_NAME)'],
      args: ['$$(literal)', '$(UNDEFINED)'],
      workingDir: '/srv',
      env: [
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
        { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
        { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
        { name: 'SA', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
        { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
        { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
        { name: 'GREETING', value: 'hello $(POD_NAME)' },
      ],
    });
    const launch = renderContainerLaunch(p, p.spec!.containers[0]!, facts);
    assert.deepEqual(launch.command, ['/bin/app', '--name=web-1', '$(literal)', '$(UNDEFINED)']);
    assert.equal(launch.cwd, '/srv');
    assert.deepEqual(launch.env, {
      PATH: `/opt/lc/bin:${DEFAULT_PATH}`,
      HOSTNAME: 'web-1',
      POD_NAME: 'web-1',
      POD_NAMESPACE: 'shop',
      POD_UID: 'u-1',
      NODE: 'node1',
      SA: 'web-sa',
      IP: '10.244.1.5',
      HOST_IP: '10.250.0.1',
      APP: 'web',
      GREETING: 'hello web-1',
    });
  });

  it('fails a container without command with reason NoCommand', () => {
    const p = pod({ image: 'nginx' });
    assert.throws(
      () => renderContainerLaunch(p, p.spec!.containers[0]!, facts),
      (e: unknown) => e instanceof ContainerConfigError && e.reason === 'NoCommand' && /container 'app' of pod 'shop\/web-1' has no command/.test(e.message),
    );
  });

  it('rejects an unsupported fieldRef with the offending path', () => {
    const p = pod({ command: ['x'], env: [{ name: 'X', valueFrom: { fieldRef: { fieldPath: 'spec.schedulerName' } } }] });
    assert.throws(() => renderContainerLaunch(p, p.spec!.containers[0]!, facts), /unsupported fieldRef fieldPath 'spec.schedulerName'/);
  });

  it('expands only defined variables', () => {
    assert.equal(expandVars('$(A)-$(B)-$$-$(A', { A: '1' }), '1-$(B)-$-$(A');
  });
});

import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import {
  ContainerConfigError,
  DEFAULT_PATH,
  expandVars,
  renderContainerLaunch,
  TOKEN_FILE_ENV,
  type PodRuntimeFacts,
} from '../../src/kubelet/container-env.ts';

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

describe('projected ServiceAccount tokens in the container (regression: the kubelet ignored projected token audiences)', () => {
  // What the kubelet wrote for the pod: its default token, and the istio-ca token of volume
  // istio-token (source path istio-token), as in deploy/daemonset/ztunnel.yaml.
  const tokenFacts = {
    ...facts,
    tokenFile: '/data/pods/p/token',
    projectedTokens: [{ volume: 'istio-token', path: 'istio-token', file: '/data/pods/p/volumes/istio-token/istio-token' }],
  } as PodRuntimeFacts;
  const mounted = { name: 'istio-token', mountPath: '/var/run/secrets/tokens' };
  const tokenEnv = (container: Record<string, unknown>): string | undefined => {
    const p = pod({ command: ['x'], ...container });
    return renderContainerLaunch(p, p.spec!.containers[0]!, tokenFacts).env[TOKEN_FILE_ENV];
  };

  it('points AMBIENT_SA_TOKEN_FILE at the projected token the container mounts', () => {
    assert.equal(tokenEnv({ volumeMounts: [mounted] }), '/data/pods/p/volumes/istio-token/istio-token');
  });

  it('maps the path the token has in Kubernetes (mountPath/path) to the file the kubelet wrote', () => {
    const env = [{ name: TOKEN_FILE_ENV, value: '/var/run/secrets/tokens/istio-token' }];
    assert.equal(tokenEnv({ volumeMounts: [mounted], env }), '/data/pods/p/volumes/istio-token/istio-token');
    const p = pod({ command: ['x', '--token-file=$(AMBIENT_SA_TOKEN_FILE)'], volumeMounts: [mounted], env });
    assert.deepEqual(renderContainerLaunch(p, p.spec!.containers[0]!, tokenFacts).command, ['x', '--token-file=/data/pods/p/volumes/istio-token/istio-token']);
  });

  it('keeps the default token for a container that mounts no projected token, and a value that names no mounted token', () => {
    assert.equal(tokenEnv({}), '/data/pods/p/token');
    assert.equal(tokenEnv({ volumeMounts: [mounted], env: [{ name: TOKEN_FILE_ENV, value: '/elsewhere/token' }] }), '/elsewhere/token');
  });
});

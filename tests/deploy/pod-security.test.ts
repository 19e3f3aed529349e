// Pod Security: istiod-lite meets `restricted`; ztunnel and the CNI node agent break it only
// where deploy/README.md says they must (the node's network namespace, hostPath, root with
// NET_ADMIN + SYS_ADMIN), in every install path and profile.
import assert from 'node:assert/strict';
import { restrictedViolations, type Violation } from './pod-security-restricted.ts';
import { allSources, find, podSpec, render, workloads, type PodSpec } from './render.ts';

/** The documented exceptions of a node component: these and no other violations. */
const nodeComponentExceptions = (hostPaths: string[], container: string): Violation[] => [
  { control: 'Host Namespaces', detail: 'hostNetwork: true' },
  { control: 'HostPath Volumes', detail: `hostPath volumes: ${hostPaths.join(', ')}` },
  { control: 'Volume Types', detail: `volumes: ${hostPaths.map((v) => `${v} (hostPath)`).join(', ')}` },
  // SYS_ADMIN implies it (the API server refuses allowPrivilegeEscalation: false beside it)
  { control: 'Privilege Escalation', detail: `allowPrivilegeEscalation is not false: ${container}` },
  { control: 'Running as Non-root', detail: `runAsNonRoot is not true: ${container}` },
  { control: 'Capabilities', detail: 'capabilities.add: NET_ADMIN, SYS_ADMIN' },
];

const EXCEPTIONS: Record<string, Violation[]> = {
  'DaemonSet ztunnel': nodeComponentExceptions(['node-agent', 'netns'], 'istio-proxy'),
  'DaemonSet istio-cni-node': nodeComponentExceptions(['cni-bin-dir', 'cni-net-dir', 'cni-run-dir', 'node-agent', 'netns', 'cni-cache-dir'], 'install-cni'),
};

const restrictedPod = (): PodSpec => ({
  securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
  containers: [{ name: 'app', image: 'app:1', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
  volumes: [{ name: 'config', configMap: { name: 'app' } }],
});

describe('Pod Security of deploy/ workloads', () => {
  for (const source of allSources) {
    it(`keeps every pod of ${source} restricted, but for the documented exceptions of ztunnel and the CNI node agent`, async () => {
      const { objects } = await render(source);
      const found = workloads(objects);
      assert.ok(found.length > 0);
      for (const w of found) {
        const key = `${w.kind} ${w.metadata.name}`;
        assert.deepEqual(restrictedViolations(w.spec.template.spec), EXCEPTIONS[key] ?? [], key);
      }
    });
  }

  it("runs istiod-lite as 65532 (the image's user) on a read-only root filesystem", async () => {
    const spec = podSpec((await render('base')).objects, 'Deployment', 'istiod-lite');
    assert.equal(spec.securityContext?.runAsUser, 65532);
    assert.equal(spec.containers[0]!.securityContext?.readOnlyRootFilesystem, true);
  });

  it('gives ztunnel no Kubernetes API token (it only talks to istiod-lite, with its istio-ca token)', async () => {
    const spec = podSpec((await render('base')).objects, 'DaemonSet', 'ztunnel');
    assert.equal(spec.automountServiceAccountToken, false);
    assert.deepEqual(
      spec.volumes?.map((v) => v.name),
      ['istiod-ca-cert', 'istio-token', 'node-agent', 'netns'],
    );
  });

  it('labels istio-system to enforce the privileged level, which the node components need', async () => {
    for (const source of ['base', 'helm default'] as const) {
      const ns = find((await render(source)).objects, 'Namespace', 'istio-system');
      assert.deepEqual(ns.metadata.labels, { 'pod-security.kubernetes.io/enforce': 'privileged' }, source);
    }
  });

  describe('the restricted check itself', () => {
    it('passes a pod that meets the profile', () => {
      assert.deepEqual(restrictedViolations(restrictedPod()), []);
    });

    const cases: [string, (p: PodSpec) => void, Violation[]][] = [
      [
        'a privileged container',
        (p) => (p.containers[0]!.securityContext!.privileged = true),
        [{ control: 'Privileged Containers', detail: 'privileged: app' }],
      ],
      [
        'NET_RAW added',
        (p) => (p.containers[0]!.securityContext!.capabilities!.add = ['NET_RAW']),
        [{ control: 'Capabilities', detail: 'capabilities.add: NET_RAW' }],
      ],
      ['NET_BIND_SERVICE added (allowed)', (p) => (p.containers[0]!.securityContext!.capabilities!.add = ['NET_BIND_SERVICE']), []],
      [
        'capabilities not dropped',
        (p) => delete p.containers[0]!.securityContext!.capabilities,
        [{ control: 'Capabilities', detail: 'capabilities.drop lacks ALL: app' }],
      ],
      [
        'no seccomp profile',
        (p) => delete p.securityContext!.seccompProfile,
        [{ control: 'Seccomp', detail: 'seccompProfile not RuntimeDefault or Localhost: app' }],
      ],
      [
        'root',
        (p) => {
          p.securityContext!.runAsUser = 0;
          delete p.securityContext!.runAsNonRoot;
        },
        [
          { control: 'Running as Non-root', detail: 'runAsNonRoot is not true: app' },
          { control: 'Running as Non-root user', detail: 'runAsUser 0: app' },
        ],
      ],
      [
        'privilege escalation allowed',
        (p) => delete p.containers[0]!.securityContext!.allowPrivilegeEscalation,
        [{ control: 'Privilege Escalation', detail: 'allowPrivilegeEscalation is not false: app' }],
      ],
      ['a host port', (p) => (p.containers[0]!.ports = [{ containerPort: 80, hostPort: 80 }]), [{ control: 'Host Ports', detail: 'hostPort: app:80' }]],
      ['hostPID', (p) => (p.hostPID = true), [{ control: 'Host Namespaces', detail: 'hostPID: true' }]],
      [
        'an unsafe sysctl',
        (p) => (p.securityContext!.sysctls = [{ name: 'net.ipv4.ip_forward' }]),
        [{ control: 'Sysctls', detail: 'sysctls: net.ipv4.ip_forward' }],
      ],
      [
        'a hostPath volume',
        (p) => p.volumes!.push({ name: 'host', hostPath: { path: '/' } }),
        [
          { control: 'HostPath Volumes', detail: 'hostPath volumes: host' },
          { control: 'Volume Types', detail: 'volumes: host (hostPath)' },
        ],
      ],
    ];
    for (const [what, edit, want] of cases) {
      it(`reports ${what}`, () => {
        const pod = restrictedPod();
        edit(pod);
        assert.deepEqual(restrictedViolations(pod), want);
      });
    }
  });
});

import assert from 'node:assert/strict';
import { builtinResources, resourcesFromCrd } from '../../src/apimachinery/builtin-resources.ts';
import { humanDuration } from '../../src/apimachinery/human-duration.ts';
import { evalJsonPath, toTable } from '../../src/apimachinery/table.ts';
import type { KubeObject, ResourceInfo } from '../../src/apimachinery/types.ts';

const now = new Date('2025-06-01T12:00:00Z');
const ago = (seconds: number): string => new Date(now.getTime() - seconds * 1000).toISOString();

const builtin = (kind: string): ResourceInfo => builtinResources.find((r) => r.kind === kind)!;

interface Table {
  kind: string;
  metadata: Record<string, string>;
  columnDefinitions: { name: string; type: string; priority: number; format: string }[];
  rows: { cells: unknown[]; object?: Record<string, unknown> }[];
}

const table = (resource: ResourceInfo, objects: KubeObject[], includeObject: 'None' | 'Metadata' | 'Object' = 'Metadata'): Table =>
  toTable(resource, objects, { includeObject, now, listMeta: { resourceVersion: '42' } }) as unknown as Table;

describe('humanDuration', () => {
  const cases: [number, string][] = [
    [0, '0s'],
    [-1500, '0s'],
    [-3000, '<invalid>'],
    [5_000, '5s'],
    [119_000, '119s'],
    [120_000, '2m'],
    [182_000, '3m2s'],
    [600_000, '10m'],
    [179 * 60_000, '179m'],
    [3 * 3600_000, '3h'],
    [(4 * 60 + 5) * 60_000, '4h5m'],
    [47 * 3600_000, '47h'],
    [(2 * 24 + 3) * 3600_000, '2d3h'],
    [12 * 86400_000, '12d'],
    [400 * 86400_000, '400d'],
    [(2 * 365 + 10) * 86400_000, '2y10d'],
    [9 * 365 * 86400_000, '9y'],
  ];
  for (const [ms, expected] of cases) it(`${ms}ms → ${expected}`, () => assert.equal(humanDuration(ms), expected));
});

describe('evalJsonPath', () => {
  const obj = {
    spec: { replicas: 3, ports: [{ port: 80 }, { port: 443 }] },
    status: {
      conditions: [
        { type: 'Accepted', status: 'True' },
        { type: 'Programmed', status: 'False', reason: 'Pending' },
      ],
    },
    metadata: { labels: { 'app.kubernetes.io/name': 'web' } },
  };
  const cases: [string, unknown][] = [
    ['.spec.replicas', 3],
    ['{.spec.replicas}', 3],
    ['.spec.ports[1].port', 443],
    ['.spec.ports[-1].port', 443],
    ['.spec.ports[*].port', [80, 443]],
    ['.status.conditions[?(@.type=="Programmed")].status', ['False']],
    [".status.conditions[?(@.type=='Accepted')].status", ['True']],
    ['.status.conditions[?(@.reason)].type', ['Programmed']],
    [".metadata.labels['app.kubernetes.io/name']", 'web'],
    ['.spec.missing', undefined],
    ['.spec.ports[7].port', undefined],
  ];
  for (const [path, expected] of cases) it(`${path} → ${JSON.stringify(expected)}`, () => assert.deepEqual(evalJsonPath(obj, path), expected));

  it('rejects syntax it does not support with BadRequest', () => {
    assert.throws(() => evalJsonPath(obj, '.spec.ports[1:2'), /invalid jsonpath/);
  });
});

describe('toTable', () => {
  const gatewayCrd: KubeObject = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'gateways.gateway.networking.k8s.io' },
    spec: {
      group: 'gateway.networking.k8s.io',
      scope: 'Namespaced',
      names: { kind: 'Gateway', plural: 'gateways', shortNames: ['gtw'], categories: ['gateway-api'] },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          subresources: { status: {} },
          schema: { openAPIV3Schema: { type: 'object' } },
          additionalPrinterColumns: [
            { name: 'Class', type: 'string', jsonPath: '.spec.gatewayClassName' },
            { name: 'Address', type: 'string', jsonPath: '.status.addresses[*].value' },
            { name: 'Programmed', type: 'string', jsonPath: '.status.conditions[?(@.type=="Programmed")].status' },
            { name: 'Listeners', type: 'integer', jsonPath: '.spec.listeners[0].port', priority: 1 },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
        },
        { name: 'v1beta1', served: false, storage: false },
      ],
    },
  };
  const waypoint: KubeObject = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name: 'waypoint', namespace: 'shop', creationTimestamp: ago(182), uid: 'u1' },
    spec: { gatewayClassName: 'istio-waypoint', listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }] },
    status: { addresses: [{ value: '10.96.0.10' }], conditions: [{ type: 'Programmed', status: 'True' }] },
  };

  it("prints a CRD's printer columns after NAME, with ages and typed cells", () => {
    const [resource] = resourcesFromCrd(gatewayCrd);
    const t = table(resource!, [waypoint]);
    assert.equal(t.kind, 'Table');
    assert.deepEqual(t.metadata, { resourceVersion: '42' });
    assert.deepEqual(
      t.columnDefinitions.map((c) => [c.name, c.type, c.priority]),
      [
        ['Name', 'string', 0],
        ['Class', 'string', 0],
        ['Address', 'string', 0],
        ['Programmed', 'string', 0],
        ['Listeners', 'integer', 1],
        ['Age', 'date', 0],
      ],
    );
    assert.equal(t.columnDefinitions[0]!.format, 'name');
    assert.deepEqual(t.rows[0]!.cells, ['waypoint', 'istio-waypoint', '10.96.0.10', 'True', 15008, '3m2s']);
    assert.deepEqual(t.rows[0]!.object, { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: waypoint.metadata });
  });

  it('leaves a cell empty (null) when the path selects nothing', () => {
    const [resource] = resourcesFromCrd(gatewayCrd);
    const bare = { ...waypoint, status: undefined } as unknown as KubeObject;
    assert.deepEqual(table(resource!, [bare]).rows[0]!.cells.slice(2, 4), [null, null]);
  });

  it('gives a CRD without printer columns NAME and AGE', () => {
    const crd = structuredClone(gatewayCrd);
    delete (crd.spec as { versions: Record<string, unknown>[] }).versions[0]!.additionalPrinterColumns;
    const [resource] = resourcesFromCrd(crd);
    const t = table(resource!, [waypoint]);
    assert.deepEqual(
      t.columnDefinitions.map((c) => c.name),
      ['Name', 'Age'],
    );
    assert.deepEqual(t.rows[0]!.cells, ['waypoint', '3m2s']);
  });

  it('includes the full object or none as asked', () => {
    const [resource] = resourcesFromCrd(gatewayCrd);
    assert.deepEqual(table(resource!, [waypoint], 'Object').rows[0]!.object, waypoint);
    assert.equal('object' in table(resource!, [waypoint], 'None').rows[0]!, false);
  });

  it('prints pods like kubectl: READY, STATUS, RESTARTS, AGE, then wide IP and NODE', () => {
    const pod: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web-1', creationTimestamp: ago(4 * 3600) },
      spec: { nodeName: 'node-1', containers: [{ name: 'a' }, { name: 'b' }] },
      status: {
        phase: 'Running',
        podIP: '10.244.1.5',
        containerStatuses: [
          { name: 'a', ready: true, restartCount: 2, state: { running: {} }, lastState: { terminated: { finishedAt: ago(300) } } },
          { name: 'b', ready: false, restartCount: 0, state: { waiting: { reason: 'CrashLoopBackOff' } } },
        ],
      },
    };
    const t = table(builtin('Pod'), [pod]);
    assert.deepEqual(
      t.columnDefinitions.filter((c) => c.priority === 0).map((c) => c.name),
      ['Name', 'Ready', 'Status', 'Restarts', 'Age'],
    );
    assert.deepEqual(t.rows[0]!.cells.slice(0, 7), ['web-1', '1/2', 'CrashLoopBackOff', '2 (5m ago)', '4h', '10.244.1.5', 'node-1']);
  });

  it('shows Terminating for a pod being deleted and Init:0/1 while initialising', () => {
    const base = { apiVersion: 'v1', kind: 'Pod', spec: { containers: [{ name: 'a' }], initContainers: [{ name: 'i' }] } };
    const deleting = { ...base, metadata: { name: 'p', deletionTimestamp: ago(1) }, status: { phase: 'Running' } };
    const init = {
      ...base,
      metadata: { name: 'q' },
      status: { phase: 'Pending', initContainerStatuses: [{ name: 'i', state: { running: {} }, restartCount: 0 }] },
    };
    const t = table(builtin('Pod'), [deleting, init] as KubeObject[]);
    assert.equal(t.rows[0]!.cells[2], 'Terminating');
    assert.equal(t.rows[1]!.cells[2], 'Init:0/1');
    assert.equal(t.rows[1]!.cells[4], '<unknown>');
  });

  it('prints services with ports and selector', () => {
    const svc: KubeObject = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', creationTimestamp: ago(12 * 86400) },
      spec: {
        type: 'ClusterIP',
        clusterIP: '10.96.0.20',
        selector: { tier: 'front', app: 'web' },
        ports: [
          { port: 80, protocol: 'TCP' },
          { port: 53, protocol: 'UDP' },
        ],
      },
    };
    const t = table(builtin('Service'), [svc]);
    assert.deepEqual(
      t.columnDefinitions.map((c) => c.name),
      ['Name', 'Type', 'Cluster-IP', 'External-IP', 'Port(s)', 'Age', 'Selector'],
    );
    assert.deepEqual(t.rows[0]!.cells, ['web', 'ClusterIP', '10.96.0.20', '<none>', '80/TCP,53/UDP', '12d', 'app=web,tier=front']);
  });

  it('prints deployments, nodes, namespaces, config maps, events and leases', () => {
    const created = ago(30);
    const cases: [string, KubeObject, unknown[]][] = [
      [
        'Deployment',
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'd', creationTimestamp: created },
          spec: { replicas: 3, selector: { matchLabels: { app: 'd' } }, template: { spec: { containers: [{ name: 'c', image: 'i' }] } } },
          status: { readyReplicas: 2, updatedReplicas: 3, availableReplicas: 2 },
        },
        ['d', '2/3', 3, 2, '30s', 'c', 'i', 'app=d'],
      ],
      [
        'Node',
        {
          apiVersion: 'v1',
          kind: 'Node',
          metadata: { name: 'n', creationTimestamp: created, labels: { 'node-role.kubernetes.io/control-plane': '' } },
          spec: { unschedulable: true },
          status: {
            conditions: [{ type: 'Ready', status: 'True' }],
            nodeInfo: { kubeletVersion: 'v1.34.0' },
            addresses: [{ type: 'InternalIP', address: '10.0.0.1' }],
          },
        },
        ['n', 'Ready,SchedulingDisabled', 'control-plane', '30s', 'v1.34.0', '10.0.0.1', '<none>', '<none>', '<none>', '<none>'],
      ],
      [
        'Namespace',
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', creationTimestamp: created }, status: { phase: 'Active' } },
        ['shop', 'Active', '30s'],
      ],
      ['ConfigMap', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', creationTimestamp: created }, data: { a: '1', b: '2' } }, ['c', 2, '30s']],
      [
        'Event',
        {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { name: 'e1' },
          type: 'Warning',
          reason: 'BackOff',
          message: ' restarting \n',
          involvedObject: { kind: 'Pod', name: 'web-1' },
          firstTimestamp: ago(600),
          lastTimestamp: ago(60),
          count: 4,
          source: { component: 'kubelet', host: 'node-1' },
        },
        ['60s', 'Warning', 'BackOff', 'pod/web-1', '', 'kubelet, node-1', 'restarting', '10m', 4, 'e1'],
      ],
      [
        'Lease',
        { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'l', creationTimestamp: created }, spec: { holderIdentity: 'istiod-1' } },
        ['l', 'istiod-1', '30s'],
      ],
      [
        'EndpointSlice',
        {
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSlice',
          metadata: { name: 's', creationTimestamp: created },
          addressType: 'IPv4',
          ports: [{ port: 80 }],
          endpoints: [{ addresses: ['10.0.0.1'] }, { addresses: ['10.0.0.2'] }, { addresses: ['10.0.0.3'] }, { addresses: ['10.0.0.4'] }],
        },
        ['s', 'IPv4', '80', '10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...', '30s'],
      ],
    ];
    for (const [kind, obj, cells] of cases) {
      const t = table(builtin(kind), [obj]);
      assert.deepEqual(t.rows[0]!.cells, cells, kind);
      assert.equal(t.columnDefinitions.length, cells.length, `${kind} columns`);
    }
  });

  it('prints CRDs with CREATED AT and unknown kinds with NAME AGE', () => {
    const crdRow = table(builtin('CustomResourceDefinition'), [
      { ...gatewayCrd, metadata: { ...gatewayCrd.metadata, creationTimestamp: '2025-01-01T00:00:00Z' } },
    ]);
    assert.deepEqual(
      crdRow.columnDefinitions.map((c) => c.name),
      ['Name', 'Created At'],
    );
    assert.deepEqual(crdRow.rows[0]!.cells, ['gateways.gateway.networking.k8s.io', '2025-01-01T00:00:00Z']);
    const other = { ...builtin('Pod'), kind: 'Mystery' };
    assert.deepEqual(table(other, [{ apiVersion: 'v1', kind: 'Mystery', metadata: { name: 'm', creationTimestamp: ago(5) } }]).rows[0]!.cells, ['m', '5s']);
  });
});

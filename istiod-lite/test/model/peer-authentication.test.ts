import assert from 'node:assert/strict';
import { buildMeshModel } from '../../src/model/mesh-model.ts';
import { inputs, namespace, opts, pod, peerAuthentication } from './fixtures.ts';

const strictKey = 'istio-system/istio_converted_static_strict';
const mode = (m: string, selector?: Record<string, string>) => (selector ? { mtls: { mode: m }, selector: { matchLabels: selector } } : { mtls: { mode: m } });

describe('model: PeerAuthentication', () => {
  const cases: { name: string; pas: any[]; strict: boolean }[] = [
    { name: 'mesh-wide STRICT applies to every namespace', pas: [peerAuthentication('mesh', mode('STRICT'), 'istio-system')], strict: true },
    { name: 'namespace STRICT applies to its workloads', pas: [peerAuthentication('ns', mode('STRICT'))], strict: true },
    {
      name: 'namespace PERMISSIVE overrides mesh STRICT',
      pas: [peerAuthentication('mesh', mode('STRICT'), 'istio-system'), peerAuthentication('ns', mode('PERMISSIVE'))],
      strict: false,
    },
    {
      name: 'namespace UNSET inherits mesh STRICT',
      pas: [peerAuthentication('mesh', mode('STRICT'), 'istio-system'), peerAuthentication('ns', mode('UNSET'))],
      strict: true,
    },
    {
      name: 'selector STRICT overrides namespace PERMISSIVE',
      pas: [peerAuthentication('ns', mode('PERMISSIVE')), peerAuthentication('wl', mode('STRICT', { app: 'web' }))],
      strict: true,
    },
    {
      name: 'selector PERMISSIVE overrides namespace STRICT',
      pas: [peerAuthentication('ns', mode('STRICT')), peerAuthentication('wl', mode('PERMISSIVE', { app: 'web' }))],
      strict: false,
    },
    {
      name: 'a selector that does not match changes nothing',
      pas: [peerAuthentication('ns', mode('STRICT')), peerAuthentication('wl', mode('PERMISSIVE', { app: 'db' }))],
      strict: true,
    },
    { name: 'another namespace STRICT does not apply', pas: [peerAuthentication('ns', mode('STRICT'), 'elsewhere')], strict: false },
    {
      name: 'the oldest namespace policy wins',
      pas: [
        peerAuthentication('new', mode('STRICT'), 'shop', '2025-02-01T00:00:00Z'),
        peerAuthentication('old', mode('PERMISSIVE'), 'shop', '2024-01-01T00:00:00Z'),
      ],
      strict: false,
    },
    { name: 'PERMISSIVE alone compiles to nothing', pas: [peerAuthentication('ns', mode('PERMISSIVE'))], strict: false },
    { name: 'DISABLE alone compiles to nothing', pas: [peerAuthentication('ns', mode('DISABLE'))], strict: false },
    {
      name: 'portLevelMtls with a STRICT port is enforced STRICT everywhere (never looser)',
      pas: [peerAuthentication('wl', { mtls: { mode: 'PERMISSIVE' }, selector: { matchLabels: { app: 'web' } }, portLevelMtls: { 8080: { mode: 'STRICT' } } })],
      strict: true,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const model = buildMeshModel(inputs(namespace('shop'), pod('web', { uid: 'w', labels: { app: 'web' } }), ...c.pas), opts);
      assert.equal(model.workloads.get('w')!.authorizationPolicies!.includes(strictKey), c.strict);
      if (c.strict) {
        assert.deepEqual(model.authorizations.get(strictKey), {
          name: 'istio_converted_static_strict',
          namespace: 'istio-system',
          scope: 'WORKLOAD_SELECTOR',
          action: 'DENY',
          warnings: [],
          rules: [{ clauses: [{ matches: [{ notPrincipals: [{ presence: true }] }] }] }],
        });
      } else {
        assert.equal(model.authorizations.has(strictKey), false);
      }
    });
  }

  it('says portLevelMtls is not supported and how it is enforced', () => {
    const model = buildMeshModel(
      inputs(
        peerAuthentication('wl', { mtls: { mode: 'STRICT' }, selector: { matchLabels: { app: 'web' } }, portLevelMtls: { 8080: { mode: 'PERMISSIVE' } } }),
      ),
      opts,
    );
    const c = model.statuses.find((s) => s.kind === 'PeerAuthentication')!.conditions[0]!;
    assert.deepEqual([c.type, c.status, c.reason], ['ZtunnelAccepted', 'True', 'UnsupportedValue']);
    assert.match(c.message, /portLevelMtls is not supported.*STRICT on every port/);
  });

  it('leaves out an invalid mode with a reason, keeping the others', () => {
    const model = buildMeshModel(
      inputs(
        namespace('shop'),
        pod('web', { uid: 'w' }),
        peerAuthentication('bad', mode('SOMETIMES')),
        peerAuthentication('mesh', mode('STRICT'), 'istio-system'),
      ),
      opts,
    );
    const c = model.statuses.find((s) => s.name === 'bad')!.conditions[0]!;
    assert.deepEqual([c.status, c.reason, c.message], ['False', 'Invalid', 'invalid mtls.mode "SOMETIMES": expected STRICT, PERMISSIVE, DISABLE or UNSET']);
    assert.ok(model.workloads.get('w')!.authorizationPolicies!.includes(strictKey));
  });
});

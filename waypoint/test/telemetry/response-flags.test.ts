import assert from 'node:assert/strict';
import { formatResponseFlags, rbacAccessDenied, responseFlags } from '../../src/telemetry/response-flags.ts';

describe('response flags (the one table)', () => {
  it('has every flag the waypoint reports, with the status Envoy pairs it with', () => {
    const statuses = Object.fromEntries(Object.entries(responseFlags).map(([flag, row]) => [flag, row.status]));
    assert.deepEqual(statuses, {
      '-': undefined,
      UH: 503,
      UT: 504,
      LR: 503,
      UR: 503,
      UF: 503,
      UC: 503,
      UO: 503,
      NR: 404,
      DI: undefined,
      FI: undefined,
      RL: 429,
      RLSE: 500,
      DC: 0,
      URX: undefined,
      DPE: 400,
      UPE: 502,
    });
  });

  it("prints no flag as '-' and one flag as itself", () => {
    assert.equal(formatResponseFlags([]), '-');
    assert.equal(formatResponseFlags(['-']), '-');
    assert.equal(formatResponseFlags(['UH']), 'UH');
  });

  it("joins several flags in Envoy's order whatever order they were raised in", () => {
    assert.equal(formatResponseFlags(['URX', 'UF']), 'UF,URX');
    assert.equal(formatResponseFlags(['URX', 'UT', 'UT']), 'UT,URX');
    assert.equal(formatResponseFlags(['DI', 'FI', 'UH']), 'UH,DI,FI');
    assert.equal(formatResponseFlags(['-', 'RL']), 'RL');
  });

  it("writes an authorization denial's details as Istio's Envoy does", () => {
    assert.equal(rbacAccessDenied(undefined), 'rbac_access_denied_matched_policy[none]');
    assert.equal(
      rbacAccessDenied({ namespace: 'shop', name: 'deny-delete', rule: 0 }),
      'rbac_access_denied_matched_policy[ns[shop]-policy[deny-delete]-rule[0]]',
    );
    assert.equal(rbacAccessDenied({ namespace: 'shop', name: 'deny-delete' }), 'rbac_access_denied_matched_policy[ns[shop]-policy[deny-delete]]');
  });
});

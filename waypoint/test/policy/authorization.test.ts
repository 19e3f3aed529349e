import assert from 'node:assert/strict';
import type { L7Authorization, L7Match, L7Rule } from '@ambient/api';
import type { RequestFacts, SourceFacts } from '../../src/http/request-facts.ts';
import { authorizationPath, authorizeRequest, denialResponse, rbacDenied } from '../../src/policy/authorization.ts';
import type { L7Decision } from '../../src/policy/authorization.ts';

const REVIEWS = 'reviews.shop.svc.cluster.local';
const RATINGS = 'ratings.shop.svc.cluster.local';

const baseReq: RequestFacts = {
  method: 'GET',
  path: '/api/items?id=1',
  authority: `${REVIEWS}:9080`,
  headers: { 'x-user': 'alice' },
  port: 9080,
};
const baseSrc: SourceFacts = { identity: 'spiffe://cluster.local/ns/shop/sa/client', namespace: 'shop', ip: '10.244.1.2' };

/** null: a policy without rules; otherwise one rule whose one clause ORs the matches. */
function policy(name: string, action: 'ALLOW' | 'DENY', matches: L7Match[] | null, targets: string[] = ['gateway']): L7Authorization {
  return { name, namespace: 'shop', action, targets, rules: matches === null ? [] : [{ clauses: [{ matches }] }] };
}

function withRules(name: string, action: 'ALLOW' | 'DENY', rules: L7Rule[]): L7Authorization {
  return { name, namespace: 'shop', action, targets: ['gateway'], rules };
}

function decide(policies: L7Authorization[], req: Partial<RequestFacts> = {}, src: Partial<SourceFacts> = {}, serviceHostname?: string): L7Decision {
  return authorizeRequest(policies, { serviceHostname }, { ...baseReq, ...req }, { ...baseSrc, ...src });
}

/** Whether an ALLOW with `m` as its one match admits the request. */
function allows(m: L7Match, req: Partial<RequestFacts> = {}, src: Partial<SourceFacts> = {}): boolean {
  return decide([policy('allow', 'ALLOW', [m])], req, src).allowed;
}

/** Whether a DENY with `m` as its one match refuses the request. */
function denies(m: L7Match, req: Partial<RequestFacts> = {}, src: Partial<SourceFacts> = {}): boolean {
  return !decide([policy('deny', 'DENY', [m])], req, src).allowed;
}

const denyAll = (name: string, targets?: string[]) => policy(name, 'DENY', [{}], targets);
const allowAll = (name: string, targets?: string[]) => policy(name, 'ALLOW', [{}], targets);

describe('authorizeRequest', () => {
  describe('decision order', () => {
    it('allows when no policy applies', () => {
      assert.deepEqual(decide([]), { allowed: true });
    });

    it('denies on a matching DENY even when an ALLOW matches too, naming the DENY', () => {
      assert.deepEqual(decide([allowAll('allow'), denyAll('deny')]), { allowed: false, policy: 'shop/deny', action: 'DENY' });
    });

    it('allows when a DENY does not match and no ALLOW applies', () => {
      assert.deepEqual(decide([policy('deny', 'DENY', [{ methods: [{ exact: 'DELETE' }] }])]), { allowed: true });
    });

    it('with ALLOW policies only, allows when one matches and answers allow-nothing when none does', () => {
      const get = policy('get', 'ALLOW', [{ methods: [{ exact: 'GET' }] }]);
      const post = policy('post', 'ALLOW', [{ methods: [{ exact: 'POST' }] }]);
      assert.deepEqual(decide([get, post]), { allowed: true });
      assert.deepEqual(decide([get, post], { method: 'PUT' }), { allowed: false, policy: 'allow-nothing', action: 'ALLOW' });
    });

    it('treats an ALLOW without rules as allowing nothing and a DENY without rules as denying nothing', () => {
      assert.deepEqual(decide([policy('empty', 'ALLOW', null)]), { allowed: false, policy: 'allow-nothing', action: 'ALLOW' });
      assert.deepEqual(decide([policy('empty', 'DENY', null)]), { allowed: true });
    });

    it('treats a rule without clauses as matching everything', () => {
      assert.equal(decide([withRules('all', 'ALLOW', [{}])], { method: 'PATCH' }).allowed, true);
      assert.equal(decide([withRules('all', 'DENY', [{ clauses: [] }])]).allowed, false);
    });

    it('ORs rules and matches, ANDs the clauses of a rule', () => {
      const get: L7Match = { methods: [{ exact: 'GET' }] };
      const fromShop: L7Match = { namespaces: [{ exact: 'shop' }] };
      const fromOther: L7Match = { namespaces: [{ exact: 'other' }] };
      const and = withRules('and', 'ALLOW', [{ clauses: [{ matches: [get] }, { matches: [fromOther] }] }]);
      const or = withRules('or', 'ALLOW', [{ clauses: [{ matches: [get] }, { matches: [fromOther, fromShop] }] }]);
      const rules = withRules('rules', 'ALLOW', [{ clauses: [{ matches: [fromOther] }] }, { clauses: [{ matches: [get] }] }]);
      assert.equal(decide([and]).allowed, false);
      assert.equal(decide([or]).allowed, true);
      assert.equal(decide([rules]).allowed, true);
    });

    it('compiles each authorizations array on its own: a new config takes effect at once', () => {
      const first = [allowAll('open')];
      assert.equal(decide(first).allowed, true);
      assert.equal(decide([denyAll('closed')]).allowed, false);
      assert.equal(decide(first).allowed, true);
    });
  });

  describe('targets', () => {
    it('applies a gateway policy to every request, with or without an addressed service', () => {
      assert.equal(decide([denyAll('gw')]).allowed, false);
      assert.equal(decide([denyAll('gw')], {}, {}, REVIEWS).allowed, false);
    });

    it('applies a service policy only to requests addressed to that service', () => {
      const p = [denyAll('reviews-only', [REVIEWS])];
      assert.equal(decide(p, {}, {}, REVIEWS).allowed, false);
      assert.equal(decide(p, {}, {}, RATINGS).allowed, true);
      assert.equal(decide(p).allowed, true);
    });

    it("does not let one service's ALLOW turn the rest of the waypoint into allow-nothing", () => {
      const p = [policy('reviews-get', 'ALLOW', [{ methods: [{ exact: 'GET' }] }], [REVIEWS])];
      assert.equal(decide(p, { method: 'POST' }, {}, REVIEWS).allowed, false);
      assert.equal(decide(p, { method: 'POST' }, {}, RATINGS).allowed, true);
      assert.equal(decide(p, { method: 'POST' }).allowed, true);
    });

    it('combines the gateway policies with the service ones, and one policy targeting both counts once', () => {
      const p = [policy('gw-deletes', 'DENY', [{ methods: [{ exact: 'DELETE' }] }]), allowAll('reviews', [REVIEWS])];
      assert.equal(decide(p, { method: 'DELETE' }, {}, REVIEWS).allowed, false);
      assert.equal(decide(p, {}, {}, REVIEWS).allowed, true);
      const both = [policy('both', 'ALLOW', [{ methods: [{ exact: 'GET' }] }], ['gateway', REVIEWS])];
      assert.equal(decide(both, {}, {}, REVIEWS).allowed, true);
      assert.deepEqual(decide(both, { method: 'PUT' }, {}, REVIEWS), { allowed: false, policy: 'allow-nothing', action: 'ALLOW' });
    });

    it('applies a policy without targets nowhere', () => {
      assert.equal(decide([{ name: 'none', namespace: 'shop', action: 'DENY', rules: [{}] }], {}, {}, REVIEWS).allowed, true);
    });
  });

  describe('each field and its negation', () => {
    it('methods: exact and case-sensitive', () => {
      assert.equal(allows({ methods: [{ exact: 'GET' }] }), true);
      assert.equal(allows({ methods: [{ exact: 'get' }] }), false);
      assert.equal(allows({ methods: [{ exact: 'POST' }, { exact: 'GET' }] }), true);
      assert.equal(allows({ notMethods: [{ exact: 'GET' }] }), false);
      assert.equal(allows({ notMethods: [{ exact: 'DELETE' }] }), true);
    });

    it('paths: against the path, query excluded', () => {
      assert.equal(allows({ paths: [{ exact: '/api/items' }] }), true);
      assert.equal(allows({ paths: [{ exact: '/api/items?id=1' }] }), false);
      assert.equal(allows({ notPaths: [{ exact: '/api/items' }] }), false);
      assert.equal(allows({ notPaths: [{ prefix: '/admin' }] }), true);
    });

    it('hosts: against Host/:authority', () => {
      assert.equal(allows({ hosts: [{ prefix: `${REVIEWS}:` }] }), true);
      assert.equal(allows({ hosts: [{ exact: RATINGS }] }), false);
      assert.equal(allows({ notHosts: [{ prefix: 'reviews.' }] }), false);
      assert.equal(allows({ notHosts: [{ prefix: 'ratings.' }] }), true);
    });

    it('destinationPorts: against the port the client addressed', () => {
      assert.equal(allows({ destinationPorts: [9080] }), true);
      assert.equal(allows({ destinationPorts: [8080] }), false);
      assert.equal(allows({ notDestinationPorts: [9080] }), false);
      assert.equal(allows({ notDestinationPorts: [8080] }), true);
    });

    it('namespaces: against the source namespace', () => {
      assert.equal(allows({ namespaces: [{ exact: 'shop' }] }), true);
      assert.equal(allows({ namespaces: [{ exact: 'other' }] }), false);
      assert.equal(allows({ notNamespaces: [{ exact: 'shop' }] }), false);
      assert.equal(allows({ notNamespaces: [{ exact: 'other' }] }), true);
    });

    it('principals: against the source identity', () => {
      assert.equal(allows({ principals: [{ exact: 'cluster.local/ns/shop/sa/client' }] }), true);
      assert.equal(allows({ principals: [{ exact: 'cluster.local/ns/shop/sa/other' }] }), false);
      assert.equal(allows({ notPrincipals: [{ suffix: '/sa/client' }] }), false);
      assert.equal(allows({ notPrincipals: [{ suffix: '/sa/other' }] }), true);
    });

    it('sourceIps: against the source IP', () => {
      assert.equal(allows({ sourceIps: [{ address: '10.244.1.0', length: 24 }] }), true);
      assert.equal(allows({ sourceIps: [{ address: '10.244.2.0', length: 24 }] }), false);
      assert.equal(allows({ notSourceIps: [{ address: '10.244.1.0', length: 24 }] }), false);
      assert.equal(allows({ notSourceIps: [{ address: '10.244.2.0', length: 24 }] }), true);
    });

    it('headers: against the request header of that name', () => {
      assert.equal(allows({ headers: [{ name: 'x-user', values: [{ exact: 'alice' }] }] }), true);
      assert.equal(allows({ headers: [{ name: 'x-user', values: [{ exact: 'bob' }] }] }), false);
      assert.equal(allows({ headers: [{ name: 'x-missing', values: [{ presence: true }] }] }), false);
      assert.equal(allows({ notHeaders: [{ name: 'x-user', values: [{ exact: 'alice' }] }] }), false);
      assert.equal(allows({ notHeaders: [{ name: 'x-user', values: [{ exact: 'bob' }] }] }), true);
      assert.equal(allows({ notHeaders: [{ name: 'x-missing', values: [{ presence: true }] }] }), true);
    });

    it('ANDs the fields of one match', () => {
      const m: L7Match = { methods: [{ exact: 'GET' }], paths: [{ prefix: '/api/' }], namespaces: [{ exact: 'shop' }] };
      assert.equal(allows(m), true);
      assert.equal(allows(m, { path: '/other' }), false);
      assert.equal(allows(m, {}, { namespace: 'other' }), false);
    });
  });

  describe('paths', () => {
    it("matches Istio's four forms: exact, prefix (/foo*), suffix (*.html), presence (*)", () => {
      const cases: [L7Match['paths'], string, boolean][] = [
        [[{ exact: '/index.html' }], '/index.html', true],
        [[{ exact: '/index.html' }], '/index.html/x', false],
        [[{ prefix: '/api/' }], '/api/items', true],
        [[{ prefix: '/api/' }], '/apix', false],
        [[{ suffix: '.html' }], '/a/b.html', true],
        [[{ suffix: '.html' }], '/a/b.htm', false],
        [[{ presence: true }], '/', true],
      ];
      for (const [paths, path, want] of cases) assert.equal(allows({ paths }, { path }), want, `${JSON.stringify(paths)} ${path}`);
    });

    it('ignores the query string (and a fragment) in every form', () => {
      assert.equal(allows({ paths: [{ exact: '/a' }] }, { path: '/a?x=1' }), true);
      assert.equal(allows({ paths: [{ suffix: '.html' }] }, { path: '/a.html?x=y.css' }), true);
      assert.equal(allows({ paths: [{ suffix: '.css' }] }, { path: '/a.html?x=y.css' }), false);
      assert.equal(allows({ paths: [{ exact: '/a' }] }, { path: '/a#top' }), true);
    });

    it('resolves dot segments and encoded unreserved characters, so a DENY cannot be walked around', () => {
      const admin: L7Match = { paths: [{ prefix: '/admin' }] };
      assert.equal(denies(admin, { path: '/public/../admin/users' }), true);
      assert.equal(denies(admin, { path: '/public/%2e%2E/admin' }), true);
      assert.equal(denies(admin, { path: '/%61dmin' }), true);
      assert.equal(denies(admin, { path: '/./admin' }), true);
      assert.equal(denies({ notPaths: [{ prefix: '/public/' }] }, { path: '/public/../admin' }), true);
    });

    it('normalizes as RFC 3986 says and leaves other escapes alone', () => {
      const cases: [string, string][] = [
        ['/a/b/../c', '/a/c'],
        ['/a/./b/.', '/a/b/'],
        ['/a/..', '/'],
        ['/../../a', '/a'],
        ['/a//../b', '/a/b'],
        ['/.well-known/x', '/.well-known/x'],
        ['/a%2Fb/%7euser', '/a%2Fb/~user'],
        ['/a%20b?q=%2e', '/a%20b'],
        ['*', '*'],
      ];
      for (const [input, want] of cases) assert.equal(authorizationPath(input), want, input);
    });
  });

  describe('hosts', () => {
    it('compares case-insensitively', () => {
      assert.equal(allows({ hosts: [{ exact: 'Reviews.Shop' }] }, { authority: 'reviews.shop' }), true);
      assert.equal(allows({ hosts: [{ exact: 'reviews.shop' }] }, { authority: 'REVIEWS.SHOP' }), true);
      assert.equal(allows({ hosts: [{ suffix: '.SHOP' }] }, { authority: 'reviews.shop' }), true);
    });

    it('matches the authority as sent, port included: "x" and "x:*" together cover both forms', () => {
      const bare: L7Match = { hosts: [{ exact: 'reviews' }] };
      const both: L7Match = { hosts: [{ exact: 'reviews' }, { prefix: 'reviews:' }] };
      assert.equal(allows(bare, { authority: 'reviews' }), true);
      assert.equal(allows(bare, { authority: 'reviews:9080' }), false);
      assert.equal(allows(both, { authority: 'reviews' }), true);
      assert.equal(allows(both, { authority: 'reviews:9080' }), true);
      assert.equal(allows({ hosts: [{ exact: 'reviews:9080' }] }, { authority: 'reviews' }), false);
    });
  });

  describe('sources', () => {
    it('matches principals in the form cluster.local/ns/<ns>/sa/<sa>, the SPIFFE ID without spiffe://', () => {
      assert.equal(allows({ principals: [{ exact: 'cluster.local/ns/shop/sa/client' }] }), true);
      assert.equal(allows({ principals: [{ exact: 'spiffe://cluster.local/ns/shop/sa/client' }] }), false);
      assert.equal(allows({ principals: [{ prefix: 'cluster.local/ns/shop/' }] }), true);
    });

    it('matches source IPs by CIDR, single addresses and v4-mapped sources included', () => {
      assert.equal(allows({ sourceIps: [{ address: '10.244.0.0', length: 16 }] }), true);
      assert.equal(allows({ sourceIps: [{ address: '10.244.1.2', length: 32 }] }), true);
      assert.equal(allows({ sourceIps: [{ address: '10.244.1.3', length: 32 }] }), false);
      assert.equal(allows({ sourceIps: [{ address: '10.244.1.0', length: 24 }] }, {}, { ip: '::ffff:10.244.1.2' }), true);
      assert.equal(allows({ sourceIps: [{ address: 'fd00::', length: 8 }] }, {}, { ip: 'fd00::2' }), true);
      assert.equal(allows({ sourceIps: [{ address: 'fd00::', length: 8 }] }), false);
    });
  });

  describe('headers', () => {
    const admin = [{ exact: 'admin' }];
    const twice = { headers: { 'x-role': ['user', 'admin'] } };

    it('lets a DENY match any value of a repeated header, and its negation hold unless every value matches', () => {
      assert.equal(denies({ headers: [{ name: 'x-role', values: admin }] }, twice), true);
      assert.equal(denies({ notHeaders: [{ name: 'x-role', values: [{ exact: 'user' }] }] }, twice), true);
      assert.equal(denies({ notHeaders: [{ name: 'x-role', values: [{ exact: 'user' }] }] }, { headers: { 'x-role': ['user', 'user'] } }), false);
    });

    it('lets an ALLOW match a repeated header only when every value matches, and its negation fail when any does', () => {
      assert.equal(allows({ headers: [{ name: 'x-role', values: admin }] }, twice), false);
      assert.equal(allows({ headers: [{ name: 'x-role', values: [{ exact: 'user' }, { exact: 'admin' }] }] }, twice), true);
      assert.equal(allows({ notHeaders: [{ name: 'x-role', values: admin }] }, twice), false);
    });

    it('matches a joined header value ("a, b") as one string, as Envoy does', () => {
      assert.equal(allows({ headers: [{ name: 'x-role', values: admin }] }, { headers: { 'x-role': 'user, admin' } }), false);
      assert.equal(allows({ headers: [{ name: 'x-role', values: [{ suffix: 'admin' }] }] }, { headers: { 'x-role': 'user, admin' } }), true);
    });

    it('compares header names lower-case and reads Host from the authority when HTTP/2 has none', () => {
      assert.equal(allows({ headers: [{ name: 'X-User', values: [{ exact: 'alice' }] }] }), true);
      assert.equal(allows({ headers: [{ name: 'host', values: [{ prefix: 'reviews.' }] }] }), true);
      assert.equal(allows({ headers: [{ name: ':authority', values: [{ prefix: 'reviews.' }] }] }), true);
    });
  });

  describe('request principals (no JWT is verified here: missing authentication never grants access)', () => {
    it('never lets an ALLOW on requestPrincipals admit anything', () => {
      assert.deepEqual(decide([policy('jwt', 'ALLOW', [{ requestPrincipals: [{ presence: true }] }])]), {
        allowed: false,
        policy: 'allow-nothing',
        action: 'ALLOW',
      });
    });

    it('never lets an ALLOW on notRequestPrincipals admit anything, nor let other matches of its clause be skipped', () => {
      assert.equal(allows({ notRequestPrincipals: [{ exact: 'issuer/bad' }] }), false);
      const either = policy('either', 'ALLOW', [{ requestPrincipals: [{ presence: true }] }, { methods: [{ exact: 'GET' }] }]);
      assert.equal(decide([either]).allowed, true);
      assert.equal(decide([either], { method: 'POST' }).allowed, false);
    });

    it('makes a DENY on notRequestPrincipals ("require a JWT") deny every request it otherwise matches', () => {
      const requireJwt = policy('require-jwt', 'DENY', [{ notRequestPrincipals: [{ presence: true }], paths: [{ prefix: '/api/' }] }]);
      assert.deepEqual(decide([requireJwt]), { allowed: false, policy: 'shop/require-jwt', action: 'DENY' });
      assert.equal(decide([requireJwt], { path: '/health' }).allowed, true);
    });

    it('makes a DENY on requestPrincipals deny what it otherwise matches, since the caller cannot be told apart', () => {
      const denyBad = policy('deny-bad', 'DENY', [{ requestPrincipals: [{ prefix: 'bad-issuer/' }], methods: [{ exact: 'DELETE' }] }]);
      assert.equal(decide([denyBad], { method: 'DELETE' }).allowed, false);
      assert.equal(decide([denyBad]).allowed, true);
    });
  });
});

describe('denialResponse', () => {
  it("answers 403 with Envoy's RBAC body, and a gRPC request with PERMISSION_DENIED in a trailers-only reply", () => {
    assert.equal(rbacDenied, 'RBAC: access denied');
    assert.deepEqual(denialResponse(false), { status: 403, headers: { 'content-type': 'text/plain' }, body: 'RBAC: access denied' });
    assert.deepEqual(denialResponse(true), {
      status: 200,
      headers: { 'content-type': 'application/grpc', 'grpc-status': '7', 'grpc-message': 'RBAC: access denied' },
      body: '',
    });
  });
});

import assert from 'node:assert/strict';
import {
  endpointChainName,
  parseIptablesSave,
  renderNodeBaseRules,
  renderServiceRules,
  serviceChainName,
  type ServiceRule,
} from '../../src/runtime/service-rules.ts';

const web: ServiceRule = {
  clusterIp: '10.96.0.10',
  port: 80,
  protocol: 'TCP',
  endpoints: [
    { ip: '10.244.1.2', port: 8080 },
    { ip: '10.244.2.2', port: 8080 },
  ],
};
const svc = serviceChainName(web);
const sep = (ip: string): string => endpointChainName(web, { ip, port: 8080 });

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

describe('renderServiceRules', () => {
  const cases: { name: string; services: ServiceRule[]; saved?: string; want: string[] }[] = [
    {
      name: 'declares its chains and the base jumps when nothing exists yet',
      services: [],
      want: [
        '*nat',
        ':LC-SERVICES - [0:0]',
        '-A PREROUTING -j LC-SERVICES',
        '-A OUTPUT -j LC-SERVICES',
        'COMMIT',
        '*filter',
        ':LC-SERVICES - [0:0]',
        '-A FORWARD -j LC-SERVICES',
        '-A OUTPUT -j LC-SERVICES',
        'COMMIT',
      ],
    },
    {
      name: 'picks one of two endpoints with probability 1/2 and DNATs to it',
      services: [web],
      saved:
        '*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j LC-SERVICES\n-A OUTPUT -j LC-SERVICES\nCOMMIT\n*filter\n-A FORWARD -j LC-SERVICES\n-A OUTPUT -j LC-SERVICES\nCOMMIT\n',
      want: [
        '*nat',
        ':LC-SERVICES - [0:0]',
        `:${svc} - [0:0]`,
        `:${sep('10.244.1.2')} - [0:0]`,
        `:${sep('10.244.2.2')} - [0:0]`,
        `-A LC-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j ${svc}`,
        `-A ${svc} -m statistic --mode random --probability 0.5000000000 -j ${sep('10.244.1.2')}`,
        `-A ${sep('10.244.1.2')} -p tcp -m tcp -j DNAT --to-destination 10.244.1.2:8080`,
        `-A ${svc} -j ${sep('10.244.2.2')}`,
        `-A ${sep('10.244.2.2')} -p tcp -m tcp -j DNAT --to-destination 10.244.2.2:8080`,
        'COMMIT',
        '*filter',
        ':LC-SERVICES - [0:0]',
        'COMMIT',
      ],
    },
    {
      name: 'rejects a service without endpoints in the filter table',
      services: [{ clusterIp: '10.96.0.11', port: 53, protocol: 'UDP', endpoints: [] }],
      saved: '*nat\n-A PREROUTING -j LC-SERVICES\n-A OUTPUT -j LC-SERVICES\nCOMMIT\n*filter\n-A FORWARD -j LC-SERVICES\n-A OUTPUT -j LC-SERVICES\nCOMMIT\n',
      want: [
        '*nat',
        ':LC-SERVICES - [0:0]',
        'COMMIT',
        '*filter',
        ':LC-SERVICES - [0:0]',
        '-A LC-SERVICES -d 10.96.0.11/32 -p udp -m udp --dport 53 -j REJECT --reject-with icmp-port-unreachable',
        'COMMIT',
      ],
    },
    {
      name: 'flushes and deletes the chains of a service that is gone',
      services: [],
      saved: `*nat\n:LC-SERVICES - [0:0]\n:${svc} - [0:0]\n:KUBE-OTHER - [0:0]\n-A PREROUTING -j LC-SERVICES\n-A OUTPUT -j LC-SERVICES\nCOMMIT\n*filter\n-A FORWARD -j LC-SERVICES\n-A OUTPUT -j LC-SERVICES\nCOMMIT\n`,
      want: ['*nat', ':LC-SERVICES - [0:0]', `:${svc} - [0:0]`, `-X ${svc}`, 'COMMIT', '*filter', ':LC-SERVICES - [0:0]', 'COMMIT'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(lines(renderServiceRules(c.services, parseIptablesSave(c.saved ?? ''))), c.want);
    });
  }

  it('spreads three endpoints uniformly: 1/3, then 1/2, then the rest', () => {
    const three: ServiceRule = {
      ...web,
      endpoints: [
        { ip: '10.244.1.2', port: 1 },
        { ip: '10.244.1.3', port: 1 },
        { ip: '10.244.1.4', port: 1 },
      ],
    };
    const picks = lines(renderServiceRules([three])).filter((l) => l.startsWith(`-A ${serviceChainName(three)} `));
    assert.deepEqual(
      picks.map((l) => /--probability (\S+)/.exec(l)?.[1] ?? 'rest'),
      ['0.3333333333', '0.5000000000', 'rest'],
    );
  });

  it('renders the same text whatever the order of services and endpoints', () => {
    const other: ServiceRule = { clusterIp: '10.96.0.2', port: 443, protocol: 'TCP', endpoints: [{ ip: '10.244.2.9', port: 443 }] };
    const reversed: ServiceRule = { ...web, endpoints: [...web.endpoints].reverse() };
    assert.equal(renderServiceRules([web, other]), renderServiceRules([other, reversed]));
  });

  const bad: [string, ServiceRule[], RegExp][] = [
    ['a cluster ip that is not ipv4', [{ ...web, clusterIp: '10.96.0' }], /invalid cluster ip: "10.96.0"/],
    ['a port out of range', [{ ...web, port: 70000 }], /invalid port: 70000/],
    ['an endpoint ip that is not ipv4', [{ ...web, endpoints: [{ ip: 'pod-a', port: 80 }] }], /invalid ip: "pod-a"/],
    ['an unknown protocol', [{ ...web, protocol: 'SCTP' as 'TCP' }], /unsupported protocol: "SCTP"/],
    ['the same clusterIP:port twice', [web, web], /duplicate service 10.96.0.10:80\/TCP/],
  ];
  for (const [what, services, message] of bad) {
    it(`rejects ${what} with the offending value`, () => {
      assert.throws(() => renderServiceRules(services), message);
    });
  }

  it('keeps chain names within the 28 characters iptables allows', () => {
    assert.ok(svc.length <= 28 && sep('10.244.1.2').length <= 28);
  });
});

describe('renderNodeBaseRules', () => {
  it('masquerades DNATed traffic that stays inside the node pod cidr, adding the jump once', () => {
    const rule = '-A LC-POSTROUTING -s 10.244.1.0/24 -d 10.244.1.0/24 -m conntrack --ctstate DNAT -j MASQUERADE';
    assert.deepEqual(lines(renderNodeBaseRules('10.244.1.0/24')), ['*nat', ':LC-POSTROUTING - [0:0]', '-A POSTROUTING -j LC-POSTROUTING', rule, 'COMMIT']);
    const saved = parseIptablesSave('*nat\n:LC-POSTROUTING - [0:0]\n-A POSTROUTING -j LC-POSTROUTING\nCOMMIT\n');
    assert.deepEqual(lines(renderNodeBaseRules('10.244.1.0/24', saved)), ['*nat', ':LC-POSTROUTING - [0:0]', rule, 'COMMIT']);
  });
});

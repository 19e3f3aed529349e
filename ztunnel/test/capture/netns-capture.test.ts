// The addon and the capture rules in network namespaces this test creates (needs root):
// pod netns A (10.77.0.1) and peer netns B (10.77.0.2) joined by a veth pair.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import net from 'node:net';
import {
  CaptureError,
  captureRulesInstalled,
  connectInNetns,
  defaultCaptureConfig,
  emptyTables,
  installCaptureRules,
  iptablesSave,
  listenInNetns,
  loadNative,
  markSocket,
  originalDestination,
  parseIptablesSave,
  removeCaptureRules,
} from '../../src/capture/index.ts';

const a = `ztcap${process.pid}a`;
const b = `ztcap${process.pid}b`;
const pathA = `/run/netns/${a}`;
const pathB = `/run/netns/${b}`;
const ipA = '10.77.0.1';
const ipB = '10.77.0.2';
const mark = defaultCaptureConfig.mark;

const strip = (t: string): string =>
  t
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n');
const sh = (...argv: string[]): string => execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 10_000 });

/** A server that answers every connection with `<name> <local addr>:<port> <original dst>` and
 *  closes; the original destination reads `-` unless a REDIRECT changed it (without a NAT
 *  table there is no conntrack entry to ask). */
async function tagServer(name: string, netnsPath: string, host: string, port: number): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    let dst = '-';
    try {
      const d = originalDestination(s);
      if (d.address !== s.localAddress || d.port !== s.localPort) dst = `${d.address}:${d.port}`;
    } catch {
      /* not redirected */
    }
    s.end(`${name} ${s.localAddress}:${s.localPort} ${dst}`);
  });
  await listenInNetns(server, netnsPath, { host, port });
  return server;
}

/** Connects with `connect`, resolves with everything the server wrote before closing. */
function exchange(socket: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no answer within 5s'));
    }, 5000);
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      data += d;
    });
    socket.on('end', () => {
      socket.end();
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(data);
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Runs a tiny client with `ip netns exec` (a process wholly inside the netns). */
async function clientInNetns(netns: string, host: string, port: number): Promise<string> {
  const code =
    `const s=require('net').connect(${port},'${host}');let d='';s.setEncoding('utf8');s.on('data',x=>d+=x);` +
    `s.on('end',()=>{process.stdout.write(d);s.end()});s.on('error',e=>{process.stdout.write('ERR '+e.code);process.exit(0)})`;
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'inherit'], timeout: 10_000 });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  await once(child, 'close');
  return out;
}

describe('capture in a network namespace (root)', () => {
  const servers: { server: net.Server; open: Set<net.Socket> }[] = [];
  // Closing a server waits for its connections: destroy them so a failed test cannot hang.
  const track = (server: net.Server): void => {
    const open = new Set<net.Socket>();
    server.on('connection', (c: net.Socket) => {
      open.add(c);
      c.on('close', () => open.delete(c));
    });
    servers.push({ server, open });
  };
  const serve = async (...args: Parameters<typeof tagServer>): Promise<net.Server> => {
    const s = await tagServer(...args);
    track(s);
    return s;
  };

  before(() => {
    loadNative(); // fails with the fix when the addon is not built
    sh('ip', 'netns', 'add', a);
    sh('ip', 'netns', 'add', b);
    sh('ip', '-n', a, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', b);
    for (const [ns, ip] of [
      [a, ipA],
      [b, ipB],
    ] as const) {
      sh('ip', '-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0');
      sh('ip', '-n', ns, 'link', 'set', 'eth0', 'up');
      sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
    }
  });

  afterEach(async () => {
    await Promise.all(
      servers.splice(0).map(
        ({ server, open }) =>
          new Promise((r) => {
            server.close(r);
            for (const c of open) c.destroy();
          }),
      ),
    );
  });

  after(() => {
    for (const ns of [a, b]) {
      try {
        sh('ip', 'netns', 'del', ns);
      } catch {
        /* already gone */
      }
    }
  });

  it('listens inside the netns: a client there connects, the host netns cannot', async () => {
    const server = await serve('a', pathA, '127.0.0.1', 0);
    const { port } = server.address() as net.AddressInfo;
    assert.equal(await clientInNetns(a, '127.0.0.1', port), `a 127.0.0.1:${port} -`);
    // The same port on the host's loopback is somebody else's (or nobody's): never our server.
    const host = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      s.on('data', (d) => {
        resolve(String(d));
        s.destroy();
      });
      s.on('connect', () =>
        setTimeout(() => {
          resolve('connected');
          s.destroy();
        }, 200),
      );
    });
    assert.ok(!host.startsWith('a '), `host netns reached the netns server: ${host}`);
  });

  it('connects from inside the netns with a Node socket that fires connect', async () => {
    const server = await serve('b', pathB, ipB, 0);
    const { port } = server.address() as net.AddressInfo;
    const socket = connectInNetns(pathA, { host: ipB, port });
    const connected = once(socket, 'connect');
    const reply = exchange(socket);
    await connected;
    assert.equal(socket.localAddress, ipA);
    assert.equal(await reply, `b ${ipB}:${port} -`);
  });

  it('reads the original destination after a REDIRECT', async () => {
    const server = await serve('a', pathA, '0.0.0.0', 0);
    const { port } = server.address() as net.AddressInfo;
    sh(
      'ip',
      'netns',
      'exec',
      a,
      'iptables',
      '-t',
      'nat',
      '-A',
      'OUTPUT',
      '-p',
      'tcp',
      '-d',
      '10.77.0.3',
      '--dport',
      '80',
      '-j',
      'REDIRECT',
      '--to-ports',
      String(port),
    );
    try {
      assert.equal(await exchange(connectInNetns(pathA, { host: '10.77.0.3', port: 80 })), `a 127.0.0.1:${port} 10.77.0.3:80`);
    } finally {
      sh(
        'ip',
        'netns',
        'exec',
        a,
        'iptables',
        '-t',
        'nat',
        '-D',
        'OUTPUT',
        '-p',
        'tcp',
        '-d',
        '10.77.0.3',
        '--dport',
        '80',
        '-j',
        'REDIRECT',
        '--to-ports',
        String(port),
      );
    }
  });

  describe('with capture rules installed in A', () => {
    let before = '';
    beforeEach(async () => {
      before = await iptablesSave(pathA);
      for (const port of [15001, 15006, 15008]) await serve(`a${port}`, pathA, '0.0.0.0', port);
      await installCaptureRules(pathA);
    });
    afterEach(async () => {
      await removeCaptureRules(pathA);
    });

    it('redirects outbound TCP to 15001, where the original destination is readable', async () => {
      const server = await serve('b', pathB, ipB, 8080);
      assert.ok(server.listening);
      assert.equal(await exchange(connectInNetns(pathA, { host: ipB, port: 8080 })), `a15001 127.0.0.1:15001 ${ipB}:8080`);
      assert.equal(await clientInNetns(a, ipB, 8080), `a15001 127.0.0.1:15001 ${ipB}:8080`);
    });

    it('lets a socket carrying the mark through, whether set at creation or later', async () => {
      await serve('b', pathB, ipB, 8080);
      assert.equal(await exchange(connectInNetns(pathA, { host: ipB, port: 8080, mark })), `b ${ipB}:8080 -`);
      const fd = loadNative().socketInNetns(pathA);
      const late = new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: true });
      markSocket(late, mark);
      late.connect(8080, ipB);
      assert.equal(await exchange(late), `b ${ipB}:8080 -`);
    });

    it('relays a captured connection to its original destination with a marked socket', async () => {
      await serve('b', pathB, ipB, 9090);
      const relay = net.createServer({ allowHalfOpen: true }, (down) => {
        const dst = originalDestination(down);
        const up = connectInNetns(pathA, { host: dst.address, port: dst.port, mark });
        down.pipe(up).pipe(down);
        up.on('error', () => down.destroy());
      });
      track(relay);
      await listenInNetns(relay, pathA, { port: 15002 });
      await installCaptureRules(pathA, { ...defaultCaptureConfig, outboundPort: 15002 });
      assert.equal(await clientInNetns(a, ipB, 9090), `b ${ipB}:9090 -`);
    });

    it('redirects inbound TCP to 15006 but leaves 15008 and loopback alone', async () => {
      assert.equal(await clientInNetns(b, ipA, 8080), `a15006 ${ipA}:15006 ${ipA}:8080`);
      assert.equal(await clientInNetns(b, ipA, 15008), `a15008 ${ipA}:15008 -`);
      await serve('lo', pathA, '127.0.0.1', 7070);
      assert.equal(await clientInNetns(a, '127.0.0.1', 7070), 'lo 127.0.0.1:7070 -');
    });

    it('installing twice keeps one copy; removing restores the netns exactly', async () => {
      await installCaptureRules(pathA);
      const rules = await iptablesSave(pathA);
      assert.equal(rules.split('\n').filter((l) => l === '-A OUTPUT -j ZTUNNEL-OUTPUT').length, 2, rules); // mangle + nat
      assert.equal(await captureRulesInstalled(pathA), true);
      assert.equal(await removeCaptureRules(pathA), true);
      assert.equal(await removeCaptureRules(pathA), false);
      assert.equal(await captureRulesInstalled(pathA), false);
      // Exactly as before; where the nft tool is missing, tables iptables-nft created may stay
      // behind, empty (see removeCaptureRules), and only those are ignored.
      const normal = (t: string): string => {
        const saved = parseIptablesSave(t);
        for (const table of emptyTables(saved)) saved.delete(table);
        return JSON.stringify([...saved].map(([name, tb]) => [name, [...tb.chains], tb.rules]));
      };
      const after = await iptablesSave(pathA);
      assert.equal(normal(after), normal(before));
      if (existsSync('/usr/sbin/nft')) assert.equal(strip(after), strip(before));
      await serve('b', pathB, ipB, 8080);
      assert.equal(await clientInNetns(a, ipB, 8080), `b ${ipB}:8080 -`);
    });
  });

  it('rejects a bad config before touching the netns', async () => {
    const saved = await iptablesSave(pathA);
    await assert.rejects(installCaptureRules(pathA, { ...defaultCaptureConfig, outboundPort: 0 }), { code: 'ERR_CAPTURE_CONFIG' });
    // Compared without iptables-save's comments: their timestamps change when a second passes (flaked in CI).
    assert.equal(strip(await iptablesSave(pathA)), strip(saved));
  });

  it('names the netns and the errno when it cannot enter the netns', async () => {
    assert.throws(
      () => connectInNetns('/run/netns/ztcap-missing', { host: ipB, port: 1 }),
      (err: unknown) => {
        assert.ok(err instanceof CaptureError);
        assert.equal(err.code, 'ERR_NETNS_SOCKET');
        assert.match(err.message, /open \/run\/netns\/ztcap-missing: ENOENT/);
        assert.equal((err.cause as NodeJS.ErrnoException).code, 'ENOENT');
        return true;
      },
    );
    await assert.rejects(listenInNetns(net.createServer(), pathA, { host: '10.99.99.99', port: 1 }), /bind 10.99.99.99:1: EADDRNOTAVAIL/);
    await assert.rejects(installCaptureRules('/run/netns/ztcap-missing'), {
      code: 'ERR_CAPTURE_RULES',
      message: /netns \/run\/netns\/ztcap-missing does not exist/,
    });
  });

  it('says how to build the addon when it is missing', () => {
    assert.throws(() => loadNative('/nonexistent/ztunnel_native.node'), {
      code: 'ERR_NATIVE_NOT_BUILT',
      message: /missing; build it with `npm run build:native -w ztunnel`/,
    });
  });
});

// The ambient-cni plugin, built from source and run the way a container runtime runs it: the
// CNI_* environment, the network configuration on stdin, and a node agent (a real Node http
// server) on a Unix socket.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const cniDir = join(import.meta.dirname, '..');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface AgentRequest {
  method: string;
  url: string;
  httpVersion: string;
  rawHeaders: string[];
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * What the fake agent does with a request: an HTTP answer (chunked: headers flushed first, so
 * Node sends the body with Transfer-Encoding: chunked), or 'hang-up' to close without one.
 */
type Answer = { status?: number; body: string | Buffer; chunked?: boolean } | 'hang-up';

interface Agent {
  socket: string;
  requests: AgentRequest[];
}

interface CniError {
  cniVersion: string;
  code: number;
  msg: string;
  details: string;
}

describe('ambient-cni plugin', () => {
  let binDir: string;
  let plugin: string;
  let dir: string;
  let servers: Server[] = [];

  before(async function () {
    this.timeout(60_000);
    binDir = mkdtempSync(join(tmpdir(), 'ambient-cni-bin-'));
    await promisify(execFile)('bash', ['plugin/build.sh', binDir], { cwd: cniDir });
    plugin = join(binDir, 'ambient-cni');
  });
  after(() => rmSync(binDir, { recursive: true, force: true }));

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ambient-cni-'));
    servers = [];
  });
  afterEach(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
    rmSync(dir, { recursive: true, force: true });
  });

  async function startAgent(answer: (req: AgentRequest) => Answer, name = 'agent.sock'): Promise<Agent> {
    const agent: Agent = { socket: join(dir, name), requests: [] };
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const recorded = {
          method: req.method!,
          url: req.url!,
          httpVersion: req.httpVersion,
          rawHeaders: req.rawHeaders,
          headers: req.headers,
          body: Buffer.concat(chunks),
        };
        agent.requests.push(recorded);
        const a = answer(recorded);
        if (a === 'hang-up') req.socket.destroy();
        else if (a.chunked) res.writeHead(a.status ?? 200).end(a.body);
        else {
          // Node sends a body given whole to end() with a Content-Length, as the agent must.
          res.statusCode = a.status ?? 200;
          res.end(a.body);
        }
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(agent.socket, r));
    return agent;
  }

  /** Runs the plugin with only PATH and the given variables in its environment. */
  function run(env: Record<string, string>, stdin: string | Buffer = ''): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(plugin, [], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => err.push(c));
      // The plugin stops reading stdin when it refuses a call early; the EPIPE is expected.
      child.stdin.on('error', () => {});
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
      child.stdin.end(stdin);
    });
  }

  const config = (socket: string, extra = '') => `{"cniVersion":"1.0.0","name":"mesh","agent_socket":"${socket}"${extra}}`;
  const cniError = (r: Run): CniError => {
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.ok(r.stdout.endsWith('}\n'), r.stdout);
    return JSON.parse(r.stdout);
  };

  it('forwards the command, every CNI_* variable and stdin byte for byte to the agent', async () => {
    const agent = await startAgent(() => ({ body: '0\n' }));
    const controls = Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join('');
    const stdin = `${config(join(dir, 'agent.sock'))}\n"quoted" back\\slash\ttab\r\nctl\u0001nul\u0000del\u007f é漢🙂 \\u0041 ${controls}`;
    const env = {
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: 'c0ffee',
      CNI_NETNS: '/var/run/netns/cni-1234',
      CNI_IFNAME: 'eth0',
      CNI_ARGS: 'K8S_POD_NAMESPACE=shop;K8S_POD_NAME="web-0"',
      CNI_PATH: '/opt/cni/bin:/usr/lib/cni',
    };
    const r = await run(env, stdin);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(agent.requests.length, 1);
    assert.deepEqual(JSON.parse(agent.requests[0]!.body.toString('utf8')), {
      command: 'ADD',
      containerId: 'c0ffee',
      netns: '/var/run/netns/cni-1234',
      ifName: 'eth0',
      args: 'K8S_POD_NAMESPACE=shop;K8S_POD_NAME="web-0"',
      path: '/opt/cni/bin:/usr/lib/cni',
      stdin,
    });
  });

  it('sends unset CNI_* variables as empty strings', async () => {
    const agent = await startAgent(() => ({ body: '0\n' }));
    const r = await run({ CNI_COMMAND: 'DEL' }, config(agent.socket));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const body = JSON.parse(agent.requests[0]!.body.toString());
    assert.deepEqual(body, { command: 'DEL', containerId: '', netns: '', ifName: '', args: '', path: '', stdin: config(agent.socket) });
  });

  it('sends POST /v1/cni over HTTP/1.1 with exactly the documented headers and a correct Content-Length', async () => {
    const agent = await startAgent(() => ({ body: '0\n' }));
    await run({ CNI_COMMAND: 'CHECK', CNI_CONTAINERID: 'ü' }, config(agent.socket));
    const req = agent.requests[0]!;
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/v1/cni');
    assert.equal(req.httpVersion, '1.1');
    assert.deepEqual(req.rawHeaders, [
      'Host',
      'ambient-cni',
      'Content-Type',
      'application/json',
      'Content-Length',
      String(req.body.length),
      'Connection',
      'close',
    ]);
    assert.equal(JSON.parse(req.body.toString()).containerId, 'ü');
  });

  it("exits with the code on the first line of the agent's body and prints the rest verbatim", async () => {
    const result = '{"cniVersion":"1.0.0","interfaces":[{"name":"eth0"}],"ips":[{"address":"10.244.1.2/24"}]}\n';
    let body = `0\n${result}`;
    const agent = await startAgent(() => ({ body }));
    let r = await run({ CNI_COMMAND: 'ADD' }, config(agent.socket));
    assert.deepEqual(r, { code: 0, stdout: result, stderr: '' });

    const error = '{"cniVersion":"1.0.0","code":999,"msg":"pod not found"}\n';
    body = `1\n${error}`;
    r = await run({ CNI_COMMAND: 'ADD' }, config(agent.socket));
    assert.deepEqual(r, { code: 1, stdout: error, stderr: '' });

    body = '7';
    r = await run({ CNI_COMMAND: 'STATUS' }, config(agent.socket));
    assert.deepEqual(r, { code: 7, stdout: '', stderr: '' });
  });

  it('prints a large agent result in full (4 MiB less the headers)', async () => {
    const result = 'x'.repeat(4 * 1024 * 1024 - 200);
    const agent = await startAgent(() => ({ body: `0\n${result}` }));
    const r = await run({ CNI_COMMAND: 'ADD' }, config(agent.socket));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.length, result.length);
    assert.equal(r.stdout, result);
  });

  it('answers VERSION itself, echoing the configured cniVersion, without calling the agent', async () => {
    const agent = await startAgent(() => ({ body: '0\n' }));
    let r = await run({ CNI_COMMAND: 'VERSION' }, `{"cniVersion": "0.4.0", "agent_socket": "${agent.socket}"}`);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, '{"cniVersion":"0.4.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}\n');
    r = await run({ CNI_COMMAND: 'VERSION' }, '');
    assert.equal(r.code, 0);
    assert.deepEqual(JSON.parse(r.stdout), { cniVersion: '1.1.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
    assert.equal(agent.requests.length, 0);
  });

  it('calls the agent on the socket named by agent_socket in the configuration', async () => {
    const other = await startAgent(() => ({ body: '0\nother\n' }), 'other.sock');
    const named = await startAgent(() => ({ body: '0\nnamed\n' }), 'named.sock');
    const r = await run({ CNI_COMMAND: 'ADD' }, `{"agent_socket" :\n "${named.socket}", "cniVersion":"1.1.0"}`);
    assert.deepEqual(r, { code: 0, stdout: 'named\n', stderr: '' });
    assert.equal(named.requests.length, 1);
    assert.equal(other.requests.length, 0);
  });

  it('reports an unreachable agent on ADD as code 11 (try again later) naming the socket', async () => {
    const socket = join(dir, 'missing.sock');
    const e = cniError(await run({ CNI_COMMAND: 'ADD' }, config(socket)));
    assert.deepEqual(e, {
      cniVersion: '1.0.0',
      code: 11,
      msg: 'ambient-cni: node agent unreachable',
      details: `${socket}: No such file or directory`,
    });
  });

  it('treats DEL as done when the agent is unreachable: exit 0, nothing on stdout, one line on stderr', async () => {
    const r = await run({ CNI_COMMAND: 'DEL' }, config(join(dir, 'missing.sock')));
    assert.equal(r.code, 0);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^ambient-cni: node agent unreachable \(.*missing\.sock: No such file or directory\); DEL treated as done\n$/);
  });

  it('treats an agent that hangs up without answering as unreachable (code 11 on ADD, exit 0 on DEL)', async () => {
    const agent = await startAgent(() => 'hang-up');
    const e = cniError(await run({ CNI_COMMAND: 'ADD' }, config(agent.socket)));
    assert.equal(e.code, 11);
    const r = await run({ CNI_COMMAND: 'DEL' }, config(agent.socket));
    assert.deepEqual([r.code, r.stdout], [0, '']);
    assert.equal(agent.requests.length, 2);
  });

  it('reports a non-200 answer as code 5 quoting the status line', async () => {
    const agent = await startAgent(() => ({ status: 503, body: '0\n{}' }));
    const e = cniError(await run({ CNI_COMMAND: 'ADD' }, config(agent.socket)));
    assert.equal(e.code, 5);
    assert.equal(e.msg, 'ambient-cni: node agent answered "HTTP/1.1 503 Service Unavailable"');
  });

  it('refuses a chunked answer with code 5 naming the Transfer-Encoding', async () => {
    const agent = await startAgent(() => ({ body: '0\n{}', chunked: true }));
    const e = cniError(await run({ CNI_COMMAND: 'ADD' }, config(agent.socket)));
    assert.deepEqual([e.code, e.msg], [5, 'ambient-cni: node agent answered with a Transfer-Encoding']);
  });

  for (const body of ['ok\n{}', '256\n{}', '-1\n', ' 0\n', '0 \n', '0\r\n{}', '', '\n0\n']) {
    it(`reports a body whose first line is not an exit code 0-255 as code 5: ${JSON.stringify(body)}`, async () => {
      const agent = await startAgent(() => ({ body }));
      const e = cniError(await run({ CNI_COMMAND: 'ADD' }, config(agent.socket)));
      assert.equal(e.code, 5);
      assert.match(e.msg, /does not start with an exit code/);
    });
  }

  it('refuses an answer larger than 4 MiB with code 5 instead of reading on', async () => {
    const agent = await startAgent(() => ({ body: Buffer.alloc(5 * 1024 * 1024, 'y') }));
    const e = cniError(await run({ CNI_COMMAND: 'ADD' }, config(agent.socket)));
    assert.equal(e.code, 5);
    assert.equal(e.msg, 'ambient-cni: node agent answer larger than 4 MiB');
  });

  it('accepts a configuration of exactly 1 MiB and refuses one byte more with code 4', async () => {
    const agent = await startAgent(() => ({ body: '0\n' }));
    const head = config(agent.socket, ',"pad":"');
    const exact = `${head}${'p'.repeat(1024 * 1024 - head.length - 2)}"}`;
    assert.equal(exact.length, 1024 * 1024);
    const ok = await run({ CNI_COMMAND: 'ADD' }, exact);
    assert.equal(ok.code, 0, ok.stdout);
    assert.equal(JSON.parse(agent.requests[0]!.body.toString()).stdin, exact);

    const e = cniError(await run({ CNI_COMMAND: 'ADD' }, `${exact} `));
    assert.deepEqual([e.code, e.msg], [4, 'ambient-cni: network configuration larger than 1 MiB']);
    assert.equal(agent.requests.length, 1);
  });

  it('refuses a call without CNI_COMMAND, or with an unknown one, with code 4', async () => {
    let e = cniError(await run({}, config(join(dir, 'missing.sock'))));
    assert.deepEqual([e.code, e.cniVersion, e.msg], [4, '1.1.0', 'ambient-cni: CNI_COMMAND is not set']);
    e = cniError(await run({ CNI_COMMAND: 'add"\n' }, config(join(dir, 'missing.sock'))));
    assert.deepEqual([e.code, e.msg], [4, 'ambient-cni: unknown CNI_COMMAND "add"\n"']);
  });

  it('refuses an agent_socket with a backslash, a control character or more than 107 bytes with code 7', async () => {
    const agent = await startAgent(() => ({ body: '0\n' }));
    for (const socket of [String.raw`/run/a\\b.sock`, '/run/a\tb.sock', `/${'s'.repeat(107)}`, '']) {
      const e = cniError(await run({ CNI_COMMAND: 'ADD' }, config(socket)));
      assert.deepEqual([e.code, e.cniVersion, e.msg], [7, '1.0.0', 'ambient-cni: invalid agent_socket'], socket);
    }
    const e = cniError(await run({ CNI_COMMAND: 'ADD' }, `{"agent_socket":"${agent.socket}`));
    assert.deepEqual([e.code, e.details], [7, 'the string never ends: ""']);
    assert.equal(agent.requests.length, 0);
  });

  it('connects to an agent_socket of exactly 107 bytes', async () => {
    const name = 'a'.repeat(107 - dir.length - 1);
    const agent = await startAgent(() => ({ body: '0\nok' }), name);
    assert.equal(Buffer.byteLength(agent.socket), 107);
    const r = await run({ CNI_COMMAND: 'ADD' }, config(agent.socket));
    assert.deepEqual(r, { code: 0, stdout: 'ok', stderr: '' });
  });

  it('refuses a cniVersion that is too long or has characters outside [0-9A-Za-z.-] with code 7', async () => {
    for (const version of ['1.0.0\\\\', '1.0 .0', 'v'.repeat(33)]) {
      const e = cniError(await run({ CNI_COMMAND: 'VERSION' }, `{"cniVersion":"${version}"}`));
      assert.deepEqual([e.code, e.cniVersion, e.msg], [7, '1.1.0', 'ambient-cni: invalid cniVersion'], version);
    }
    const r = await run({ CNI_COMMAND: 'VERSION' }, `{"cniVersion":"${'v'.repeat(32)}"}`);
    assert.equal(JSON.parse(r.stdout).cniVersion, 'v'.repeat(32));
  });
});

/**
 * The policy proxy on its own (no jail): host patterns and the ceiling; the address guard
 * after the policy (private, loopback and metadata addresses refused unless the operator named
 * the host); a tunnel closed when the policy narrows; an install's allowance for its duration.
 */
import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ContextEgress, withInstallAllowance } from '../../../src/sandbox-service/egress/context-egress.ts';
import { beyondCeiling, parsePolicy } from '../../../src/sandbox-service/egress/egress-policy.ts';
import { matchesHost, normalizePattern, patternWithin } from '../../../src/sandbox-service/egress/host-patterns.ts';
import { PolicyProxy } from '../../../src/sandbox-service/egress/policy-proxy.ts';

let dir: string;
let upstream: Server;
let echo: TcpServer;
let port: number;
let echoPort: number;
const lookups: string[] = [];
const NAMES: Record<string, string> = {
  'local.test': '127.0.0.1',
  'private.test': '10.1.2.3',
  'metadata.test': '169.254.169.254',
  'alibaba-metadata.test': '100.100.100.200',
  'mapped.test': '::ffff:127.0.0.1',
};

async function resolve(host: string): Promise<readonly LookupAddress[]> {
  lookups.push(host);
  const address = NAMES[host];
  if (!address) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
  return [{ address, family: address.includes(':') ? 6 : 4 }];
}

const proxy = new PolicyProxy({ privateHosts: ['local.test'], headers: {}, resolve });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'policy-proxy-'));
  upstream = createServer((req, res) => res.end(`upstream ${req.url}`));
  await new Promise<void>((ready) => upstream.listen(0, '127.0.0.1', ready));
  port = (upstream.address() as { port: number }).port;
  echo = createTcpServer((socket) => socket.pipe(socket));
  await new Promise<void>((ready) => echo.listen(0, '127.0.0.1', ready));
  echoPort = (echo.address() as { port: number }).port;
});
after(() => {
  proxy.close();
  upstream.close();
  echo.close();
  rmSync(dir, { recursive: true, force: true });
});

function through(socketPath: string, url: string): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const req = request(
      { socketPath, path: url, method: 'GET', headers: { host: url.startsWith('http') ? new URL(url).host : 'x' } },
      (res: IncomingMessage) => {
        let body = '';
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => done({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', fail);
    req.end();
  });
}

function tunnel(socketPath: string, target: string): Promise<{ status: number; socket: Socket; body: string }> {
  return new Promise((done, fail) => {
    const req = request({ socketPath, path: target, method: 'CONNECT' });
    req.on('connect', (res, socket) => {
      if (res.statusCode === 200) return done({ status: 200, socket, body: '' });
      let body = '';
      socket.on('data', (chunk) => (body += chunk));
      socket.on('end', () => done({ status: res.statusCode ?? 0, socket, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

test('a forwarded request goes to the host its URL names with that Host, whatever Host header the code sent (no fronting another site on the same server)', async () => {
  const hosts: (string | undefined)[] = [];
  const vhosts = createServer((req, res) => {
    hosts.push(req.headers.host);
    res.end(`served ${req.headers.host}`);
  });
  await new Promise<void>((ready) => vhosts.listen(0, '127.0.0.1', ready));
  const vport = (vhosts.address() as { port: number }).port;
  const route = new ContextEgress(proxy);
  route.setPolicy(parsePolicy({ allowOut: ['local.test'] }));
  const path = join(dir, 'host.sock');
  const listener = route.listenUnix(path, undefined);
  try {
    const answer = await new Promise<{ status: number; body: string }>((done, fail) => {
      const req = request(
        { socketPath: path, path: `http://local.test:${vport}/`, method: 'GET', headers: { host: 'forbidden.example' } },
        (res) => {
          let body = '';
          res.on('data', (chunk) => (body += chunk));
          res.on('end', () => done({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', fail);
      req.end();
    });
    assert.equal(answer.status, 200);
    assert.deepEqual(hosts, [`local.test:${vport}`]);
    assert.equal(answer.body, `served local.test:${vport}`);
  } finally {
    listener.close();
    vhosts.close();
  }
});

test('host patterns: exact names, *.domain below a domain only, * for any; the ceiling covers narrower patterns', () => {
  assert.equal(normalizePattern(' PyPI.org. '), 'pypi.org');
  assert.equal(normalizePattern('*.Example.com'), '*.example.com');
  assert.equal(normalizePattern('[::1]'), '::1');
  for (const bad of ['https://pypi.org', 'pypi.org:443', 'pypi.org/simple', '*.', '*x.com', 'a*.b.com', '']) {
    assert.equal(normalizePattern(bad), undefined, bad);
  }
  assert.ok(matchesHost('*.example.com', 'a.b.example.com'));
  assert.ok(!matchesHost('*.example.com', 'example.com'));
  assert.ok(!matchesHost('*.example.com', 'badexample.com'));
  assert.ok(matchesHost('*', 'anything.org'));
  assert.ok(patternWithin('files.pythonhosted.org', ['*.pythonhosted.org']));
  assert.ok(patternWithin('*.a.example.com', ['*.example.com']));
  assert.ok(!patternWithin('*.example.com', ['a.example.com']));
  assert.ok(!patternWithin('*', ['*.example.com']));
  assert.equal(beyondCeiling(parsePolicy({ allowOut: ['pypi.org', 'evil.com'] }), ['pypi.org']), 'evil.com');
  assert.equal(beyondCeiling(parsePolicy({ allowOut: ['pypi.org'], denyOut: ['evil.com'] }), ['pypi.org']), undefined);
});

test('after the policy, the address guard: loopback, private and metadata addresses are refused unless the operator named the host', async () => {
  const route = new ContextEgress(proxy);
  route.setPolicy(parsePolicy({ allowOut: ['*'] }));
  const path = join(dir, 'guard.sock');
  const listener = route.listenUnix(path, undefined);
  try {
    for (const [host, why] of [
      ['private.test', /resolves to 10\.1\.2\.3, a private address/],
      ['metadata.test', /resolves to 169\.254\.169\.254, a link-local address .*metadata/],
      ['alibaba-metadata.test', /100\.100\.100\.200/],
      ['mapped.test', /IPv6 form of a loopback address/],
      ['169.254.169.254', /169\.254\.169\.254 is a link-local address/],
      ['127.0.0.1', /127\.0\.0\.1 is a loopback address/],
    ] as const) {
      const answer = await through(path, `http://${host}:${port}/x`);
      assert.equal(answer.status, 403, host);
      assert.match(answer.body, /^sandbox network policy: /);
      assert.match(answer.body, why);
      assert.match(answer.body, /SANDBOX_EGRESS_PRIVATE_HOSTS/);
      const connect = await tunnel(path, `${host}:${port}`);
      assert.equal(connect.status, 403, `CONNECT ${host}`);
    }
    // Named by the operator: reached, at the address that was checked.
    assert.deepEqual(await through(path, `http://local.test:${port}/named`), { status: 200, body: 'upstream /named' });
  } finally {
    listener.close();
  }
});

test('a tunnel open to a host is closed when the policy stops allowing it; an install allowance lasts for its install only', async () => {
  const route = new ContextEgress(proxy);
  route.setPolicy(parsePolicy({ allowOut: ['local.test'] }));
  const path = join(dir, 'narrow.sock');
  const listener = route.listenUnix(path, undefined);
  try {
    const open = await tunnel(path, `local.test:${echoPort}`);
    assert.equal(open.status, 200);
    open.socket.write('ping');
    const [echoed] = (await new Promise((done) => open.socket.once('data', (chunk) => done([chunk.toString()])))) as string[];
    assert.equal(echoed, 'ping');
    const closed = new Promise((done) => open.socket.once('close', done));
    route.setPolicy(parsePolicy({ allowOut: [] }));
    await closed;

    lookups.length = 0;
    assert.equal((await through(path, `http://local.test:${port}/before`)).status, 403);
    const during = await withInstallAllowance(route, ['local.test'], () => through(path, `http://local.test:${port}/during`));
    assert.deepEqual(during, { status: 200, body: 'upstream /during' });
    assert.equal((await through(path, `http://local.test:${port}/after`)).status, 403);
    assert.deepEqual(lookups, ['local.test'], 'only the allowed request looked the name up');
  } finally {
    listener.close();
  }
});

test('a connection that belongs to no route, or a request that is not a proxy request, is refused with a reason', async () => {
  const port = await proxy.listenLoopback();
  const answer = await new Promise<{ status: number; body: string }>((done, fail) => {
    const req = request({ host: '127.0.0.1', port, path: 'http://local.test/' }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => done({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', fail);
    req.end();
  });
  assert.equal(answer.status, 407);
  assert.match(answer.body, /belongs to no context/);
  const route = new ContextEgress(proxy);
  const path = join(dir, 'origin.sock');
  const listener = route.listenUnix(path, undefined);
  try {
    const origin = await through(path, '/relative');
    assert.equal(origin.status, 400);
    assert.match(origin.body, /absolute http:\/\/ URLs/);
  } finally {
    listener.close();
  }
});

test("one jail's connections to the proxy are capped, so it cannot take the sandbox's file descriptors; another jail is untouched", async () => {
  const small = new PolicyProxy({ privateHosts: ['local.test'], headers: {}, resolve, maxJailConnections: 3 });
  const greedy = new ContextEgress(small);
  const other = new ContextEgress(small);
  for (const route of [greedy, other]) route.setPolicy(parsePolicy({ allowOut: ['local.test'] }));
  const greedyPath = join(dir, 'greedy.sock');
  const otherPath = join(dir, 'other.sock');
  const listeners = [greedy.listenUnix(greedyPath, undefined), other.listenUnix(otherPath, undefined)];
  try {
    const held = await Promise.all([1, 2, 3].map(() => tunnel(greedyPath, `local.test:${echoPort}`)));
    assert.deepEqual(
      held.map((t) => t.status),
      [200, 200, 200],
    );
    const refused = await tunnel(greedyPath, `local.test:${echoPort}`).then(
      (t) => `answered ${t.status}`,
      (error: NodeJS.ErrnoException) => error.code ?? error.message,
    );
    assert.match(refused, /ECONNRESET|socket hang up|EPIPE/);
    assert.deepEqual(await through(otherPath, `http://local.test:${port}/other`), { status: 200, body: 'upstream /other' });
    held[0]!.socket.destroy();
    await new Promise((settle) => setTimeout(settle, 50));
    const again = await tunnel(greedyPath, `local.test:${echoPort}`);
    assert.equal(again.status, 200);
    for (const t of [...held, again]) t.socket.destroy();
  } finally {
    for (const listener of listeners) listener.close();
    small.close();
  }
});

test('the sandbox refuses a policy it cannot hold: the whole network already open, or no jail without advice; nothing asked is always fine', async () => {
  const { SandboxEgress } = await import('../../../src/sandbox-service/egress/sandbox-egress.ts');
  const base = { ceiling: ['*'], privateHosts: [], headers: {}, enforced: true, advisory: false, openNetwork: false };
  const open = await SandboxEgress.start({ ...base, openNetwork: true });
  assert.throws(() => open.check({ allowOut: ['pypi.org'] }), /network policy refused: .*SANDBOX_ALLOW_NETWORK=true/);
  assert.deepEqual(open.check({}), { allowOut: [], denyOut: [] });
  assert.equal(open.route(), undefined, 'no proxy route where the jail has the whole network');
  assert.match(open.describe(), /per-context policies are refused/);
  const unjailed = await SandboxEgress.start({ ...base, enforced: false });
  assert.throws(() => unjailed.check({ allowOut: ['pypi.org'] }), /without its jail.*SANDBOX_EGRESS_ADVISORY=true/);
  for (const egress of [open, unjailed]) egress.close();
});

/**
 * Per-context egress in the real jail: a context's kernel reaches hosts only through
 * the policy proxy, under its own policy, changed at run time without a restart; a denial is a
 * 403 at once naming the sandbox's network policy and the host; nothing resolves inside the jail,
 * and a denied host costs no DNS query and no disk. Offline: the upstream is on loopback, allowed
 * through SANDBOX_EGRESS_PRIVATE_HOSTS, and the DNS the proxy uses is a stand-in that counts.
 */
import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { networkInterfaces } from 'node:os';
import { after, before, test } from 'node:test';
import { startSandbox, type RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { createContext, execute, request } from '../../support/sandbox-support.ts';

let sandbox: RunningSandbox;
let upstream: Server;
let port: number;
let dns: UdpSocket;
let dnsPort: number;
const dnsPackets: string[] = [];
const lookups: string[] = [];
const seen: string[] = [];
/** The host's own non-loopback IPv4 address: somewhere a jail with a route out could send to. */
const hostAddress = Object.values(networkInterfaces())
  .flat()
  .find((address) => address && address.family === 'IPv4' && !address.internal)?.address;

/** The proxy's DNS: "upstream.test" is the loopback upstream; every name asked is counted. */
async function resolve(host: string): Promise<readonly LookupAddress[]> {
  lookups.push(host);
  if (host === 'upstream.test' || host === 'other.test') return [{ address: '127.0.0.1', family: 4 }];
  throw Object.assign(new Error(`${host} not found`), { code: 'ENOTFOUND' });
}

before(async () => {
  upstream = createServer((req, res) => {
    seen.push(`${req.headers.host} ${req.url}`);
    res.end(`upstream says hi to ${req.url}`);
  });
  await new Promise<void>((ready) => upstream.listen(0, '127.0.0.1', ready));
  port = (upstream.address() as { port: number }).port;
  dns = createSocket('udp4');
  dns.on('message', (message) => dnsPackets.push(message.toString('hex')));
  await new Promise<void>((ready) => dns.bind(0, hostAddress ?? '127.0.0.1', ready));
  dnsPort = dns.address().port;
  sandbox = await startSandbox(
    {
      port: 0,
      poolSize: 1,
      egressAllow: ['*.test', '127.0.0.1', 'pypi.org'],
      egressPrivateHosts: ['*.test', '127.0.0.1'],
    },
    { resolve, log: () => {} },
  );
});

after(async () => {
  await sandbox?.close();
  await new Promise((done) => upstream.close(done));
  dns.close();
});

const fetchCode = (url: string) =>
  [
    'import time, urllib.request',
    't = time.monotonic()',
    'try:',
    `    print("OK", urllib.request.urlopen(${JSON.stringify(url)}, timeout=30).read().decode())`,
    'except urllib.error.HTTPError as e:',
    '    print("HTTP", e.code, e.read().decode().strip())',
    'except Exception as e:',
    '    print("FAIL", type(e).__name__, e)',
    'print("SECONDS", round(time.monotonic() - t, 3))',
  ].join('\n');

async function fetchFrom(session: string, id: string, url: string): Promise<{ out: string; seconds: number }> {
  const run = await execute(sandbox.url, { context_id: id, code: fetchCode(url) }, { 'x-ci-session-id': session });
  assert.equal(run.error, undefined, JSON.stringify(run.error));
  const seconds = Number(/SECONDS (\S+)/.exec(run.stdout)?.[1]);
  return { out: run.stdout.replace(/\nSECONDS.*\n?$/, '').trim(), seconds };
}

test('a context reaches the hosts its policy allows, and only those: a denial is a 403 at once naming the policy and the host, with no DNS query', async () => {
  const session = { 'x-ci-session-id': 'egress-allow' };
  const id = await createContext(sandbox.url, { allowOut: ['upstream.test'] }, session);
  const allowed = await fetchFrom('egress-allow', id, `http://upstream.test:${port}/allowed`);
  assert.equal(allowed.out, 'OK upstream says hi to /allowed');

  lookups.length = 0;
  const denied = await fetchFrom('egress-allow', id, `http://pypi.org/simple/`);
  assert.match(denied.out, /^HTTP 403 sandbox network policy: pypi\.org is not allowed for this context/);
  assert.ok(denied.seconds < 2, `the denial took ${denied.seconds} s`);
  // https goes by CONNECT: refused the same way, before the name is resolved.
  const tunnel = await fetchFrom('egress-allow', id, `https://other.test:${port}/`);
  assert.match(tunnel.out, /403/);
  assert.ok(tunnel.seconds < 2, `the CONNECT denial took ${tunnel.seconds} s`);
  assert.deepEqual(lookups, [], 'a denied host cost a DNS query');
});

test('a policy changed at run time applies to the next request, without restarting the kernel', async () => {
  const session = { 'x-ci-session-id': 'egress-change' };
  const id = await createContext(sandbox.url, {}, session);
  await execute(sandbox.url, { context_id: id, code: 'kept = 42' }, session);
  const before = await fetchFrom('egress-change', id, `http://upstream.test:${port}/before`);
  assert.match(before.out, /^HTTP 403 sandbox network policy: upstream\.test is not allowed for this context: it allows no host/);

  const changed = await request(sandbox.url, 'PUT', `/contexts/${id}/network`, { allowOut: ['*.test'] }, session);
  assert.equal(changed.status, 200, changed.text);
  assert.deepEqual(changed.json.allowOut, ['*.test']);
  const afterChange = await fetchFrom('egress-change', id, `http://upstream.test:${port}/after`);
  assert.equal(afterChange.out, 'OK upstream says hi to /after');

  // denyOut wins over allowOut.
  await request(sandbox.url, 'PUT', `/contexts/${id}/network`, { allowOut: ['*.test'], denyOut: ['upstream.test'] }, session);
  const deniedAgain = await fetchFrom('egress-change', id, `http://upstream.test:${port}/denied`);
  assert.match(deniedAgain.out, /^HTTP 403 sandbox network policy: upstream\.test .*denyOut/);
  const still = await execute(sandbox.url, { context_id: id, code: 'print(kept)' }, session);
  assert.equal(still.stdout.trim(), '42', 'the kernel was restarted');
});

test('two contexts of one sandbox, and of one session, follow their own policies', async () => {
  const a = { 'x-ci-session-id': 'egress-two-a' };
  const idA = await createContext(sandbox.url, { allowOut: ['upstream.test'] }, a);
  const idA2 = await createContext(sandbox.url, { allowOut: ['other.test'] }, a);
  const idB = await createContext(sandbox.url, {}, { 'x-ci-session-id': 'egress-two-b' });
  const [fromA, fromA2, fromB] = await Promise.all([
    fetchFrom('egress-two-a', idA, `http://upstream.test:${port}/a`),
    fetchFrom('egress-two-a', idA2, `http://upstream.test:${port}/a2`),
    fetchFrom('egress-two-b', idB, `http://upstream.test:${port}/b`),
  ]);
  assert.equal(fromA.out, 'OK upstream says hi to /a');
  assert.match(fromA2.out, /^HTTP 403 sandbox network policy: upstream\.test is not allowed for this context: it allows other\.test/);
  assert.match(fromB.out, /^HTTP 403 sandbox network policy: upstream\.test is not allowed/);
});

test('beyond the ceiling, or not a host pattern: refused at creation and at a change, naming the host', async () => {
  const session = { 'x-ci-session-id': 'egress-ceiling' };
  const beyond = await request(sandbox.url, 'POST', '/contexts', { allowOut: ['evil.example.com'] }, session);
  assert.equal(beyond.status, 403);
  assert.match(
    beyond.text,
    /evil\.example\.com is beyond the hosts this sandbox's operator allows contexts \(SANDBOX_EGRESS_ALLOW: \*\.test, 127\.0\.0\.1, pypi\.org\)/,
  );
  const any = await request(sandbox.url, 'POST', '/contexts', { allowOut: ['*'] }, session);
  assert.equal(any.status, 403);
  const bad = await request(sandbox.url, 'POST', '/contexts', { allowOut: ['https://pypi.org/simple'] }, session);
  assert.equal(bad.status, 400);
  assert.match(bad.text, /"https:\/\/pypi\.org\/simple" is not a host pattern/);
  const id = await createContext(sandbox.url, { allowOut: ['pypi.org'] }, session);
  const change = await request(sandbox.url, 'PUT', `/contexts/${id}/network`, { allowOut: ['*.example.com'] }, session);
  assert.equal(change.status, 403);
  assert.match(change.text, /\*\.example\.com is beyond/);
  const listed = await request(sandbox.url, 'GET', '/contexts', undefined, session);
  assert.deepEqual(
    listed.json.find((context: { id: string }) => context.id === id).allowOut,
    ['pypi.org'],
    'a refused change changed the policy',
  );
});

test('no DNS inside the jail and no route out but the proxy: names do not resolve, packets to the host go nowhere', async () => {
  const session = { 'x-ci-session-id': 'egress-dns' };
  const id = await createContext(sandbox.url, { allowOut: ['*.test', '127.0.0.1'] }, session);
  const code = [
    'import os, socket',
    'try:',
    '    print("RESOLVED", socket.getaddrinfo("upstream.test", 80))',
    'except OSError as e:',
    '    print("NO-DNS", type(e).__name__)',
    `target = (${JSON.stringify(hostAddress ?? '10.255.255.1')}, ${dnsPort})`,
    's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
    'try:',
    '    s.sendto(b"\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x07example\\x03com\\x00\\x00\\x01\\x00\\x01", target)',
    '    print("SENT")',
    'except OSError as e:',
    '    print("UNREACHABLE", e.errno)',
    'print("RESOLV", os.path.exists("/etc/resolv.conf"))',
  ].join('\n');
  const run = await execute(sandbox.url, { context_id: id, code }, session);
  assert.match(run.stdout, /NO-DNS/);
  assert.match(run.stdout, /UNREACHABLE/);
  assert.match(run.stdout, /RESOLV False/);
  await new Promise((settle) => setTimeout(settle, 200));
  assert.deepEqual(dnsPackets, [], 'a datagram left the jail');
});

test('denied hosts cost no disk: many refused requests leave the workspace as it was', async () => {
  const session = { 'x-ci-session-id': 'egress-disk' };
  const id = await createContext(sandbox.url, { allowOut: ['upstream.test'] }, session);
  await execute(sandbox.url, { context_id: id, code: 'print(1)' }, session);
  const workspace = (await sandbox.workspaceOf('egress-disk'))!;
  const usage = () => execFileSync('du', ['-sb', '--apparent-size', workspace], { encoding: 'utf8' }).split('\t')[0];
  const before = usage();
  const code = [
    'import urllib.request',
    'n = 0',
    'for i in range(50):',
    '    try:',
    '        urllib.request.urlopen("http://pypi.org/simple/numpy/", timeout=5)',
    '    except urllib.error.HTTPError as e:',
    '        n += e.code == 403',
    'print(n)',
  ].join('\n');
  const run = await execute(sandbox.url, { context_id: id, code }, session);
  assert.equal(run.stdout.trim(), '50');
  assert.equal(usage(), before);
});

test('a bash context and a session command get the proxy variables, NO_PROXY empty, and the policy', async () => {
  const session = { 'x-ci-session-id': 'egress-bash' };
  const id = await createContext(sandbox.url, { language: 'bash', allowOut: ['upstream.test'] }, session);
  const run = await execute(
    sandbox.url,
    {
      context_id: id,
      code: `env | grep -i _proxy | sort; echo "NO_PROXY=[$NO_PROXY]"; curl -s http://upstream.test:${port}/from-bash; echo; curl -s -o /dev/null -w '%{http_code}\\n' http://pypi.org/`,
    },
    session,
  );
  assert.match(run.stdout, /^HTTP_PROXY=http:\/\/127\.0\.0\.1:3128$/m);
  assert.match(run.stdout, /^https_proxy=http:\/\/127\.0\.0\.1:3128$/m);
  assert.match(run.stdout, /^ALL_PROXY=http:\/\/127\.0\.0\.1:3128$/m);
  assert.match(run.stdout, /^NO_PROXY=\[\]$/m);
  assert.match(run.stdout, /^upstream says hi to \/from-bash$/m);
  assert.match(run.stdout, /^403$/m);
  // A session command (AgentRun's process API) belongs to no context: the variables, and no host.
  const command = await request(
    sandbox.url,
    'POST',
    '/processes/cmd',
    { command: `echo "$HTTPS_PROXY"; curl -s http://upstream.test:${port}/from-command` },
    session,
  );
  assert.equal(command.status, 200, command.text);
  assert.match(command.json.stdout, /^http:\/\/127\.0\.0\.1:3128$/m);
  assert.match(command.json.stdout, /sandbox network policy: upstream\.test is not allowed/);
});

test("a restarted kernel keeps its context's policy, and a policy change reaches a kernel started after it", async () => {
  const session = { 'x-ci-session-id': 'egress-restart' };
  const id = await createContext(sandbox.url, { allowOut: ['upstream.test'] }, session);
  const restarted = await request(sandbox.url, 'POST', `/contexts/${id}/restart`, undefined, session);
  assert.equal(restarted.status, 200, restarted.text);
  assert.equal((await fetchFrom('egress-restart', id, `http://upstream.test:${port}/restarted`)).out, 'OK upstream says hi to /restarted');
  await request(sandbox.url, 'PUT', `/contexts/${id}/network`, { allowOut: [] }, session);
  await request(sandbox.url, 'POST', `/contexts/${id}/restart`, undefined, session);
  assert.match((await fetchFrom('egress-restart', id, `http://upstream.test:${port}/closed`)).out, /^HTTP 403 sandbox network policy/);
});

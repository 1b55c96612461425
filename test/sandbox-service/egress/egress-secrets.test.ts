/**
 * Secrets the code never sees (SANDBOX_EGRESS_HEADERS), and TLS through the proxy, against a
 * loopback TLS server whose CA the test makes: the sandbox process trusts it through
 * NODE_EXTRA_CA_CERTS, the kernel through a CA file. The code calls the host over plain http
 * (the port it names kept); the proxy makes the TLS request with the header added, every time.
 * The code looks for the header's value everywhere it can (its environment, every /proc/<pid>/
 * environ and cmdline it can read, the files it can read) and finds it nowhere. An https request
 * the code makes itself goes through a CONNECT tunnel, uninspected: its TLS is the code's own.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createContext, execute, listeningUrl } from '../../support/sandbox-support.ts';
import { stopChild } from '../../support/processes.ts';

const SECRET = `sk-${randomBytes(18).toString('hex')}`;
let dir: string;
let upstream: Server;
let port: number;
let child: ChildProcess;
let url: string;
const received: Array<{ path: string; key: string | undefined }> = [];

function makeCertificates(into: string): { ca: string; key: string; cert: string } {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: into, stdio: 'ignore' });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=egress test CA');
  run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=localhost');
  writeFileSync(join(into, 'leaf.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  run(
    'x509',
    '-req',
    '-in',
    'leaf.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'leaf.pem',
    '-days',
    '2',
    '-extfile',
    'leaf.ext',
  );
  return {
    ca: readFileSync(join(into, 'ca.pem'), 'utf8'),
    key: readFileSync(join(into, 'leaf.key'), 'utf8'),
    cert: readFileSync(join(into, 'leaf.pem'), 'utf8'),
  };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'egress-secrets-'));
  const { ca, key, cert } = makeCertificates(dir);
  upstream = createServer({ key, cert }, (req, res) => {
    const given = req.headers['x-api-key'];
    received.push({ path: req.url ?? '', key: typeof given === 'string' ? given : undefined });
    res.end(`tls upstream: ${req.url} (key ${given === SECRET ? 'right' : given === undefined ? 'missing' : 'wrong'})`);
  });
  await new Promise<void>((ready) => upstream.listen(0, '127.0.0.1', ready));
  port = (upstream.address() as { port: number }).port;
  child = spawn(process.execPath, ['--import', 'tsx', 'handlers/sandbox.ts'], {
    env: {
      ...process.env,
      SANDBOX_PORT: '0',
      SANDBOX_POOL_SIZE: '0',
      SANDBOX_EGRESS_ALLOW: 'localhost',
      SANDBOX_EGRESS_PRIVATE_HOSTS: 'localhost',
      SANDBOX_EGRESS_HEADERS: JSON.stringify({ localhost: { 'X-Api-Key': SECRET } }),
      NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem'),
    },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  url = await listeningUrl(child);
  writeFileSync(join(dir, 'ca-for-code.pem'), ca);
});

after(async () => {
  if (child) await stopChild(child);
  await new Promise((done) => upstream?.close(done));
  rmSync(dir, { recursive: true, force: true });
});

test('the header reaches the upstream on every request, over TLS to the port the code named, while the code finds its value nowhere', async () => {
  const session = { 'x-ci-session-id': 'egress-secrets' };
  const id = await createContext(url, { allowOut: ['localhost'] }, session);
  const code = [
    'import os, urllib.request',
    `for i in range(3):`,
    `    print(urllib.request.urlopen(f"http://localhost:${port}/call/{i}", timeout=20).read().decode())`,
    `secret_part = ${JSON.stringify(SECRET.slice(0, 3))} + ${JSON.stringify(SECRET.slice(3))}`,
    'needle = secret_part.encode()',
    'hits = []',
    'if any(needle.decode() in v for v in os.environ.values()): hits.append("environ")',
    'for pid in [p for p in os.listdir("/proc") if p.isdigit()]:',
    '    for part in ("environ", "cmdline"):',
    '        try:',
    '            if needle in open(f"/proc/{pid}/{part}", "rb").read(): hits.append(f"/proc/{pid}/{part}")',
    '        except OSError:',
    '            pass',
    'for root in ("/home", "/tmp", "/run", "/etc", "/opt", "/root", "/var"):',
    '    for folder, _, files in os.walk(root):',
    '        for name in files:',
    '            path = os.path.join(folder, name)',
    '            try:',
    '                if os.path.isfile(path) and needle in open(path, "rb").read(): hits.append(path)',
    '            except OSError:',
    '                pass',
    'print("HITS", hits)',
    'print("SANDBOX_EGRESS_HEADERS" in os.environ, sorted(p for p in os.listdir("/proc") if p.isdigit())[:1])',
  ].join('\n');
  const run = await execute(url, { context_id: id, code, timeout: 120 }, session);
  assert.equal(run.error, undefined, JSON.stringify(run.error));
  for (let i = 0; i < 3; i++) assert.match(run.stdout, new RegExp(`^tls upstream: /call/${i} \\(key right\\)$`, 'm'));
  assert.deepEqual(
    received.filter((entry) => entry.path.startsWith('/call/')).map((entry) => entry.key === SECRET),
    [true, true, true],
  );
  assert.match(run.stdout, /^HITS \[\]$/m);
  assert.match(run.stdout, /^False /m);
});

test('https the code makes itself goes through a CONNECT tunnel by name, uninspected: Python requests and urllib trust the CA they are given, and no header is added', async () => {
  const session = { 'x-ci-session-id': 'egress-tls' };
  const id = await createContext(url, { allowOut: ['localhost'] }, session);
  const ca = readFileSync(join(dir, 'ca-for-code.pem'), 'utf8');
  const code = [
    'import ssl, urllib.request, requests',
    `open("/tmp/ca.pem", "w").write(${JSON.stringify(ca)})`,
    `print(requests.get("https://localhost:${port}/requests", verify="/tmp/ca.pem", timeout=20).text)`,
    'context = ssl.create_default_context(cafile="/tmp/ca.pem")',
    `print(urllib.request.urlopen("https://localhost:${port}/urllib", context=context, timeout=20).read().decode())`,
    'try:',
    `    requests.get("https://localhost:${port}/untrusted", timeout=20)`,
    'except requests.exceptions.SSLError:',
    '    print("UNTRUSTED refused")',
  ].join('\n');
  const run = await execute(url, { context_id: id, code, timeout: 120 }, session);
  assert.equal(run.error, undefined, JSON.stringify(run.error));
  assert.match(run.stdout, /^tls upstream: \/requests \(key missing\)$/m);
  assert.match(run.stdout, /^tls upstream: \/urllib \(key missing\)$/m);
  assert.match(run.stdout, /^UNTRUSTED refused$/m);
});

/**
 * With the jail off (containers, FC), the sandbox cannot enforce a network policy: code shares
 * the platform's network and could go around any proxy. The start line says so; a context asking
 * for hosts is refused with the reason and the setting that would accept it; with
 * SANDBOX_EGRESS_ADVISORY=true the policy is accepted, the proxy variables are set anyway
 * (a loopback listener, the context's token in the URL) and clients that follow them get the
 * context's policy.
 */
import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import { startSandbox, type RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { createContext, execute, request } from '../../support/sandbox-support.ts';

let upstream: Server;
let port: number;

async function resolve(host: string): Promise<readonly LookupAddress[]> {
  if (host === 'upstream.test') return [{ address: '127.0.0.1', family: 4 }];
  throw Object.assign(new Error(`${host} not found`), { code: 'ENOTFOUND' });
}

before(async () => {
  upstream = createServer((req, res) => res.end(`upstream ${req.url}`));
  await new Promise<void>((ready) => upstream.listen(0, '127.0.0.1', ready));
  port = (upstream.address() as { port: number }).port;
});
after(() => upstream.close());

async function jailOff(advisory: boolean): Promise<{ sandbox: RunningSandbox; lines: string[] }> {
  const lines: string[] = [];
  const sandbox = await startSandbox(
    {
      port: 0,
      poolSize: 0,
      jail: 'off',
      egressAllow: ['*.test'],
      egressPrivateHosts: ['upstream.test'],
      egressAdvisory: advisory,
    },
    { resolve, log: (line) => lines.push(line) },
  );
  return { sandbox, lines };
}

test('jail off: the start line says no policy can be enforced, and a context asking for hosts is refused, naming SANDBOX_EGRESS_ADVISORY', async () => {
  const { sandbox, lines } = await jailOff(false);
  try {
    assert.ok(
      lines.some((line) => /^egress: cannot be enforced without the jail/.test(line)),
      lines.join('\n'),
    );
    const session = { 'x-ci-session-id': 'egress-off' };
    const refused = await request(sandbox.url, 'POST', '/contexts', { allowOut: ['upstream.test'] }, session);
    assert.equal(refused.status, 403);
    assert.match(refused.text, /runs without its jail, so it cannot enforce a policy.*SANDBOX_EGRESS_ADVISORY=true/);
    // No hosts asked for: nothing to enforce, the context is made.
    await createContext(sandbox.url, { denyOut: ['evil.test'] }, session);
  } finally {
    await sandbox.close();
  }
});

test('jail off and SANDBOX_EGRESS_ADVISORY=true: the policy is accepted and advised, the proxy variables set, the start line says NOT ENFORCED', async () => {
  const { sandbox, lines } = await jailOff(true);
  try {
    assert.ok(
      lines.some((line) => /^egress: NOT ENFORCED \(no jail\)/.test(line)),
      lines.join('\n'),
    );
    const session = { 'x-ci-session-id': 'egress-advisory' };
    const id = await createContext(sandbox.url, { allowOut: ['upstream.test'] }, session);
    const code = [
      'import os, urllib.request',
      'print("PROXY", os.environ["HTTPS_PROXY"].split("@")[-1], repr(os.environ["NO_PROXY"]))',
      `print(urllib.request.urlopen("http://upstream.test:${port}/advised").read().decode())`,
      'try:',
      '    urllib.request.urlopen("http://pypi.org/")',
      'except urllib.error.HTTPError as e:',
      '    print(e.code, e.read().decode().strip())',
    ].join('\n');
    const run = await execute(sandbox.url, { context_id: id, code }, session);
    assert.equal(run.error, undefined, JSON.stringify(run.error));
    assert.match(run.stdout, /^PROXY 127\.0\.0\.1:\d+ ''$/m);
    assert.match(run.stdout, /^upstream \/advised$/m);
    assert.match(run.stdout, /^403 sandbox network policy: pypi\.org is not allowed for this context/m);
  } finally {
    await sandbox.close();
  }
});

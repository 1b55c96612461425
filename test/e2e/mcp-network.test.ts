/**
 * A context's network from an MCP client: create_context's `network` ("none" by
 * default, or {"allow": [...]}) and set_network on a live context, its variables kept; a host
 * beyond the operator's ceiling is a tool error (network_refused) naming the host. A real
 * sandbox with the jail, a loopback upstream allowed through SANDBOX_EGRESS_PRIVATE_HOSTS, and
 * the proxy's DNS a stand-in.
 */
import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/client';
import { startSandbox, type RunningSandbox } from '../../src/sandbox-service/index.ts';
import { call, connect, type McpProcess, startMcp, structured, textOf } from '../support/mcp-harness.ts';

let sandbox: RunningSandbox;
let mcp: McpProcess;
let client: Client;
let upstream: Server;
let port: number;

async function resolve(host: string): Promise<readonly LookupAddress[]> {
  if (host.endsWith('.test')) return [{ address: '127.0.0.1', family: 4 }];
  throw Object.assign(new Error(`${host} not found`), { code: 'ENOTFOUND' });
}

before(async () => {
  upstream = createServer((req, res) => res.end(`upstream ${req.url}`));
  await new Promise<void>((ready) => upstream.listen(0, '127.0.0.1', ready));
  port = (upstream.address() as { port: number }).port;
  sandbox = await startSandbox(
    { host: '127.0.0.1', port: 0, poolSize: 0, egressAllow: ['*.test'], egressPrivateHosts: ['*.test'] },
    { resolve, log: () => {} },
  );
  mcp = await startMcp({ SANDBOX_URL: sandbox.url });
  client = await connect(mcp.url);
});

after(async () => {
  await client?.close();
  await mcp?.stop();
  await sandbox?.close();
  upstream.close();
});

const fetchCode = (path: string) =>
  [
    'import urllib.request',
    'try:',
    `    print(urllib.request.urlopen("http://upstream.test:${port}${path}").read().decode())`,
    'except urllib.error.HTTPError as e:',
    '    print(e.code, e.read().decode().strip())',
  ].join('\n');

async function run(contextId: string, code: string): Promise<string> {
  const result = await call(client, 'run_code', { context_id: contextId, code });
  assert.ok(!result.isError, textOf(result));
  return structured<{ stdout: string }>(result).stdout.trim();
}

test('create_context: no network by default; an allow-list within the ceiling is given, one beyond it is network_refused naming the host', async () => {
  const plain = await call(client, 'create_context', { language: 'python' });
  assert.ok(!plain.isError, textOf(plain));
  assert.equal(structured<{ network: unknown }>(plain).network, 'none');
  const plainId = structured<{ context_id: string }>(plain).context_id;
  assert.match(await run(plainId, fetchCode('/none')), /^403 sandbox network policy: upstream\.test is not allowed for this context/);

  const refused = await call(client, 'create_context', { language: 'python', network: { allow: ['upstream.test', 'pypi.org'] } });
  assert.equal(refused.isError, true);
  const failure = structured<{ error: { kind: string; message: string } }>(refused).error;
  assert.equal(failure.kind, 'network_refused');
  assert.match(failure.message, /pypi\.org is beyond the hosts this sandbox's operator allows contexts \(SANDBOX_EGRESS_ALLOW: \*\.test\)/);

  const notAHost = await call(client, 'create_context', { language: 'python', network: { allow: ['http://upstream.test/'] } });
  assert.equal(structured<{ error: { kind: string } }>(notAHost).error.kind, 'network_refused');

  const allowed = await call(client, 'create_context', { language: 'python', network: { allow: ['upstream.test'] } });
  assert.ok(!allowed.isError, textOf(allowed));
  assert.deepEqual(structured<{ network: unknown }>(allowed).network, { allow: ['upstream.test'] });
  assert.equal(await run(structured<{ context_id: string }>(allowed).context_id, fetchCode('/allowed')), 'upstream /allowed');
});

test('set_network changes a live context: the next request follows it and the kernel keeps its variables', async () => {
  const created = await call(client, 'create_context', { language: 'python' });
  const id = structured<{ context_id: string }>(created).context_id;
  await run(id, 'kept = "still here"');

  const opened = await call(client, 'set_network', { context_id: id, network: { allow: ['*.test'] } });
  assert.ok(!opened.isError, textOf(opened));
  assert.deepEqual(structured<{ network: unknown }>(opened).network, { allow: ['*.test'] });
  assert.equal(await run(id, fetchCode('/opened')), 'upstream /opened');

  const beyond = await call(client, 'set_network', { context_id: id, network: { allow: ['evil.example.com'] } });
  assert.equal(beyond.isError, true);
  assert.equal(structured<{ error: { kind: string } }>(beyond).error.kind, 'network_refused');
  assert.match(textOf(beyond), /evil\.example\.com/);
  assert.equal(await run(id, fetchCode('/still-open')), 'upstream /still-open', 'a refused change changed the policy');

  const closed = await call(client, 'set_network', { context_id: id, network: 'none' });
  assert.equal(structured<{ network: unknown }>(closed).network, 'none');
  assert.match(await run(id, fetchCode('/closed')), /^403 sandbox network policy: upstream\.test is not allowed/);
  assert.equal(await run(id, 'print(kept)'), 'still here');

  const unknown = await call(client, 'set_network', { context_id: 'ctx_not-a-real-one', network: 'none' });
  assert.equal(structured<{ error: { kind: string } }>(unknown).error.kind, 'unknown_context');
});

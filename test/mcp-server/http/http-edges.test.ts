// The HTTP surface around the tools: auth, methods, malformed and oversized bodies,
// DNS-rebinding and CORS, a sandbox that is down, start-up refusals, the FC and
// `npm start` entry points. Real MCP server processes; the official client where it applies.
import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import { after, before, test } from 'node:test';
import { Client, ProtocolError, SSEClientTransport, type CallToolResult } from '@modelcontextprotocol/client';
import {
  call,
  connect,
  rawPost,
  rpcBody,
  runToExit,
  SECRET,
  spawnHandler,
  startMcp,
  structured,
  textOf,
  TOOL_NAMES,
  type McpProcess,
} from '../../support/mcp-harness.ts';
import { eventually } from '../../support/eventually.ts';
import { onAgent } from '../../support/on-agent.ts';
import { freePort, stopChild } from '../../support/processes.ts';

let deadSandboxUrl: string;
let mcp: McpProcess;

before(async () => {
  // Nothing listens here: the sandbox is "down" for every test in this file but the last two.
  deadSandboxUrl = `http://127.0.0.1:${await freePort()}`;
  mcp = await startMcp({ SANDBOX_URL: deadSandboxUrl, MCP_AUTH_TOKEN: 'tok-one,tok-two', MCP_MAX_BODY_BYTES: '4096' });
});

after(async () => {
  await mcp?.stop();
});

const AUTH = { authorization: 'Bearer tok-one' };
const LIST = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });

test('without the bearer token: 401 with WWW-Authenticate; with either token: served', async () => {
  const missing = await rawPost(mcp.url, LIST);
  assert.equal(missing.status, 401);
  assert.match(missing.headers.get('www-authenticate') ?? '', /^Bearer/);
  const wrong = await rawPost(mcp.url, LIST, { authorization: 'Bearer tok-three' });
  assert.equal(wrong.status, 401);
  assert.match(wrong.headers.get('www-authenticate') ?? '', /invalid_token/);

  for (const token of ['tok-one', 'tok-two']) {
    const client = await connect(mcp.url, { authorization: `Bearer ${token}` });
    assert.equal((await client.listTools()).tools.length, TOOL_NAMES.length);
    await client.close();
  }
  const health = await fetch(`${mcp.origin}/health`);
  assert.equal(health.status, 200, '/health needs no token (FC probes it)');
});

test('GET and DELETE on the MCP path answer 405 with a JSON-RPC error', async () => {
  for (const method of ['GET', 'DELETE']) {
    const response = await fetch(mcp.url, { method, headers: { ...AUTH, accept: 'text/event-stream' } });
    assert.equal(response.status, 405, method);
    const body = (await response.json()) as { jsonrpc: string; error: { code: number; message: string } };
    assert.equal(body.jsonrpc, '2.0');
    assert.equal(body.error.code, -32000);
    assert.match(body.error.message, /Method not allowed/);
  }
});

test('malformed JSON gives a JSON-RPC parse error', async () => {
  const response = await rawPost(mcp.url, '{"jsonrpc": "2.0", "id": 1, "method": ', AUTH);
  assert.equal(response.status, 400);
  const body = (await response.json()) as { error: { code: number } };
  assert.equal(body.error.code, -32700);
});

test('an oversized body gives 413, with or without Content-Length', async () => {
  const big = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'tools/call',
    params: { name: 'run_code', arguments: { code: 'x'.repeat(10_000) } },
  });
  const sized = await rawPost(mcp.url, big, AUTH);
  assert.equal(sized.status, 413);
  assert.equal(((await sized.json()) as { error: { code: number } }).error.code, -32000);

  const chunked = await fetch(mcp.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...AUTH },
    body: new Blob([big]).stream(),
    duplex: 'half',
  } as RequestInit);
  assert.equal(chunked.status, 413);
  await chunked.body?.cancel();
  assert.equal((await fetch(`${mcp.origin}/health`)).status, 200, 'the process stays up');
});

test('after a 413 on /mcp, the next requests on the same kept-alive connection work', async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const post = (body: string) =>
    onAgent(agent, mcp.url, 'POST', { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...AUTH }, body);
  try {
    const big = await post(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { pad: 'x'.repeat(200_000) } }));
    assert.equal(big.status, 413);
    assert.equal(big.connection, 'close', 'the unread body is not left on the connection');
    for (let i = 0; i < 2; i++) {
      const next = await post(LIST);
      assert.equal(next.status, 200, next.text);
    }
  } finally {
    agent.destroy();
  }
});

function getWithHeaders(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...AUTH, ...headers },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end(LIST);
  });
}

test('on a loopback bind, a non-local Host or Origin is refused (DNS rebinding)', async () => {
  assert.equal(await getWithHeaders(mcp.url, { host: 'evil.example:3000' }), 403);
  assert.equal(await getWithHeaders(mcp.url, { origin: 'http://evil.example' }), 403);
  assert.equal(await getWithHeaders(mcp.url, { origin: 'http://localhost:6274' }), 200, 'the Inspector on localhost is let in');
});

test('CORS lets a browser client in and exposes the MCP headers', async () => {
  const preflight = await fetch(mcp.url, {
    method: 'OPTIONS',
    headers: {
      origin: 'http://localhost:6274',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type, mcp-protocol-version, mcp-method, mcp-name',
    },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get('access-control-allow-origin'), '*');
  assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /mcp-protocol-version/i);
  assert.match(
    preflight.headers.get('access-control-allow-headers') ?? '',
    /mcp-method.*mcp-name/i,
    'the 2026-07-28 request headers are allowed',
  );
  const response = await rawPost(mcp.url, LIST, { ...AUTH, origin: 'http://localhost:6274' });
  assert.match(response.headers.get('access-control-expose-headers') ?? '', /mcp-session-id/);
  assert.match(response.headers.get('access-control-expose-headers') ?? '', /mcp-protocol-version/);
  await response.body?.cancel();
});

test('sandbox down: tools give a clear error naming the URL; health_check says so', async () => {
  const client = await connect(mcp.url, AUTH);
  await client.listTools();
  const health = structured<{ status: string; sandbox_url: string }>(await call(client, 'health_check'));
  assert.equal(health.status, 'connection_error');
  assert.equal(health.sandbox_url, deadSandboxUrl);
  for (const [tool, args] of [
    ['run_code', { code: '1' }],
    ['create_context', {}],
    ['list_contexts', {}],
  ] as const) {
    const result = await call(client, tool, args);
    assert.equal(result.isError, true, tool);
    assert.match(textOf(result), new RegExp(`sandbox unreachable at ${deadSandboxUrl}`), tool);
  }
  await client.close();
});

test('an unknown tool is a JSON-RPC error, not a crash', async () => {
  const client = await connect(mcp.url, AUTH);
  await assert.rejects(
    client.callTool({ name: 'rm_rf', arguments: {} }),
    (error: unknown) => error instanceof ProtocolError && /unknown tool "rm_rf"/.test(error.message),
  );
  await client.close();
});

test('bad configuration: one line, exit code 2', async () => {
  const badPort = await runToExit('local.ts', { MCP_PORT: 'eighty', SANDBOX_URL: deadSandboxUrl });
  assert.equal(badPort.code, 2);
  assert.match(badPort.stderr, /^configuration error: MCP_PORT: .*\n$/);
  const open = await runToExit('local.ts', { MCP_HOST: '0.0.0.0', CONTEXT_SECRET: SECRET, SANDBOX_URL: deadSandboxUrl });
  assert.equal(open.code, 2);
  assert.match(open.stderr, /MCP_AUTH_TOKEN: required when binding to 0\.0\.0\.0/);
  const flag = await runToExit('local.ts', { SANDBOX_URL: deadSandboxUrl }, ['--no-such-flag']);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /no-such-flag/);
});

test('FC entry point: listens on 0.0.0.0 at FC_CUSTOM_LISTEN_PORT and needs CONTEXT_SECRET', async () => {
  const noSecret = await runToExit('fc.ts', { MCP_AUTH_TOKEN: 'tok', SANDBOX_URL: deadSandboxUrl });
  assert.equal(noSecret.code, 2);
  assert.match(noSecret.stderr, /CONTEXT_SECRET: required/);

  const port = await freePort();
  const child = spawnHandler('fc.ts', {
    FC_CUSTOM_LISTEN_PORT: String(port),
    MCP_AUTH_TOKEN: 'tok',
    CONTEXT_SECRET: SECRET,
    SANDBOX_URL: deadSandboxUrl,
  });
  try {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', () => err.includes('"msg":"listening"') && resolve());
      child.once('exit', (code) => reject(new Error(`fc.ts exited ${code}: ${err}`)));
    });
    assert.match(err, /"url":"http:\/\/0\.0\.0\.0:\d+\/mcp"/);
    const client = await connect(`http://127.0.0.1:${port}/mcp`, { authorization: 'Bearer tok', 'x-fc-request-id': 'fc-req-123' });
    assert.equal((await call(client, 'health_check')).isError, undefined);
    await client.close();
    assert.ok(
      await eventually(() => /"request_id":"fc-req-123".*"tool":"health_check"/.test(err)),
      `log lines carry the FC request id:\n${err}`,
    );
  } finally {
    await stopChild(child);
  }
});

test('npm start: embeds a sandbox when SANDBOX_URL is unset and prints the URL and a curl line', async () => {
  const local = await startMcp({ SANDBOX_PORT: '0', SANDBOX_POOL_SIZE: '0' });
  try {
    assert.match(local.stdout(), /sandbox: http:\/\/127\.0\.0\.1:\d+/);
    assert.match(local.stdout(), /curl -s http:\/\/127\.0\.0\.1:\d+\/mcp .*Accept: application\/json, text\/event-stream/);
    const client = await connect(local.url);
    assert.equal(structured<{ status: string }>(await call(client, 'health_check')).status, 'healthy');
    const response = await rawPost(local.url, LIST);
    assert.equal(
      ((await rpcBody(response)) as { result: { tools: unknown[] } }).result.tools.length,
      TOOL_NAMES.length,
      'the printed curl works',
    );
    await client.close();
  } finally {
    await local.stop();
  }
});

test('MCP_TRANSPORT=sse serves the legacy SSE transport (GET /sse, POST /messages) as well as /mcp', async () => {
  const legacy = await startMcp({ MCP_TRANSPORT: 'sse', SANDBOX_URL: deadSandboxUrl, MCP_AUTH_TOKEN: 'tok' });
  try {
    assert.match(legacy.stdout(), /legacy SSE: http:\/\/127\.0\.0\.1:\d+\/sse/);
    const unauthorized = await fetch(`${legacy.origin}/sse`);
    assert.equal(unauthorized.status, 401);
    const headers = { authorization: 'Bearer tok' };
    const client = new Client({ name: 'legacy-sse-test', version: '1.0.0' });
    await client.connect(
      new SSEClientTransport(new URL(`${legacy.origin}/sse`), {
        requestInit: { headers },
        eventSourceInit: {
          fetch: (url, init) => fetch(url, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } }),
        },
      }),
    );
    assert.equal((await client.listTools()).tools.length, TOOL_NAMES.length);
    const health = (await client.callTool({ name: 'health_check', arguments: {} })) as CallToolResult;
    assert.equal(structured<{ status: string }>(health).status, 'connection_error');
    await client.close();
    const stale = await fetch(`${legacy.origin}/messages?sessionId=nope`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(stale.status, 404);
  } finally {
    await legacy.stop();
  }
});

// GET /health_check answers what the health_check tool answers, against real server
// processes: 200 on a real sandbox service, 503 when the sandbox is down. It asks for no
// token, so the sandbox's address and the error text (which names it) stay with the tool.
// GET /health stays the process's liveness (FC's probe), whatever the sandbox does.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type McpProcess, mcpOnSandbox, startMcp, structured } from '../../support/mcp-harness.ts';
import { freePort } from '../../support/processes.ts';

const servers = mcpOnSandbox();
let up: McpProcess;
let down: McpProcess;

before(async () => {
  up = await servers.start();
  down = await startMcp({ SANDBOX_URL: `http://127.0.0.1:${await freePort()}` });
});

after(async () => {
  await down?.stop();
});

async function toolAnswer(server: McpProcess): Promise<Record<string, unknown>> {
  const client = new Client({ name: 'health-1x', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
  await client.listTools();
  const result = (await client.callTool({ name: 'health_check', arguments: {} })) as CallToolResult;
  await client.close();
  return structured(result);
}

/** The fields that say the same thing either way (latency and time differ per call; the route keeps the address to the tool). */
const stable = ({ latency_ms: _l, timestamp: _t, sandbox_url: _u, error: _e, ...rest }: Record<string, unknown>) => rest;

test('a healthy sandbox: 200 and the tool answer', async () => {
  const response = await fetch(`${up.origin}/health_check`);
  assert.equal(response.status, 200);
  const text = await response.text();
  const body = JSON.parse(text) as Record<string, unknown>;
  const tool = await toolAnswer(up);
  assert.deepEqual(stable(body), stable(tool));
  assert.ok(!text.includes(new URL(tool.sandbox_url as string).host), `the sandbox's address stays private: ${text}`);
  assert.equal(body.status, 'healthy');
  assert.equal(body.response_code, 200);
  assert.equal(typeof body.latency_ms, 'number');
  assert.ok(!Number.isNaN(Date.parse(body.timestamp as string)));
});

test('a sandbox that is down: 503 with connection_error, as the tool says; /health is still 200', async () => {
  const response = await fetch(`${down.origin}/health_check`);
  assert.equal(response.status, 503);
  const text = await response.text();
  const body = JSON.parse(text) as Record<string, unknown>;
  assert.equal(body.status, 'connection_error');
  assert.equal(body.response_code, null);
  const tool = await toolAnswer(down);
  assert.deepEqual(stable(body), stable(tool));
  assert.match(String(tool.error), /\S/, 'the tool, behind the token, says why');
  assert.ok(!text.includes(new URL(tool.sandbox_url as string).host), `neither the address nor the error text: ${text}`);
  const live = await fetch(`${down.origin}/health`);
  assert.equal(live.status, 200);
  assert.deepEqual(await live.json(), { status: 'ok' });
});

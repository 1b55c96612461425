/**
 * OpenTelemetry on every way into the MCP server, not only POST /mcp: an FC event on
 * /invoke, a legacy SSE connection (MCP_TRANSPORT=sse, the 1.x-shaped SSE client of the SDK) and
 * stdio (the SDK's StdioClientTransport starting handlers/stdio.ts). Each request is one SERVER
 * span named by the MCP conventions and continuing the caller's trace, with the sandbox calls it
 * made as CLIENT spans under it, against a real sandbox and a loopback OTLP receiver.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, SSEClientTransport } from '@modelcontextprotocol/client';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { mcpOnSandbox, ROOT, type McpProcess, textOf } from '../../support/mcp-harness.ts';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from '../../support/otlp-receiver.ts';

const TOKEN = 'telemetry-entry-token-0123456789';
const PARENT_ID = '00f067aa0ba902b7';
const SERVER = 2;
const CLIENT = 3;
const servers = mcpOnSandbox();
let receiver: OtlpReceiver;

before(async () => {
  receiver = await startOtlpReceiver();
});
after(async () => {
  await receiver?.close();
});

const otelEnv = () => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
  OTEL_BSP_SCHEDULE_DELAY: '50',
  OTEL_METRIC_EXPORT_INTERVAL: '300',
});

/** The request's SERVER span in `traceId`, and the sandbox CLIENT spans under it. */
async function requestSpans(traceId: string, name: string): Promise<{ server: ReceivedSpan; sandboxCalls: ReceivedSpan[] }> {
  const server = await receiver.waitForSpan((s) => s.traceId === traceId && s.kind === SERVER && s.name === name);
  await receiver.waitForSpan((s) => s.traceId === traceId && s.kind === CLIENT && s.parentSpanId === server.spanId);
  const sandboxCalls = receiver.spans.filter((s) => s.traceId === traceId && s.kind === CLIENT && s.parentSpanId === server.spanId);
  return { server, sandboxCalls };
}

describe('POST /invoke (an FC event)', () => {
  let mcp: McpProcess;
  before(async () => {
    mcp = await servers.start({ MCP_AUTH_TOKEN: TOKEN, ...otelEnv() });
  });

  test('a tool-call event is a tools/call span continuing the traceparent header, its sandbox calls under it', async () => {
    const traceId = 'a1'.repeat(16);
    const response = await fetch(`${mcp.origin}/invoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, traceparent: `00-${traceId}-${PARENT_ID}-01` },
      body: JSON.stringify({ tool: 'run_code', arguments: { code: 'print(6 * 7)' } }),
    });
    assert.equal(response.status, 200);
    assert.match(JSON.stringify(await response.json()), /42/);
    const { server, sandboxCalls } = await requestSpans(traceId, 'tools/call run_code');
    assert.equal(server.parentSpanId, PARENT_ID);
    assert.equal(server.attributes['gen_ai.tool.name'], 'run_code');
    assert.equal(server.attributes['network.transport'], 'tcp');
    assert.ok(sandboxCalls.length >= 1);
  });

  test('a JSON-RPC event continues params._meta.traceparent, and a failed tool carries error.type', async () => {
    const traceId = 'a2'.repeat(16);
    const response = await fetch(`${mcp.origin}/invoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 7,
        method: 'tools/call',
        params: { name: 'run_code', arguments: { code: '1/0' }, _meta: { traceparent: `00-${traceId}-${PARENT_ID}-01` } },
      }),
    });
    assert.equal(response.status, 200);
    const { server } = await requestSpans(traceId, 'tools/call run_code');
    assert.equal(server.attributes['jsonrpc.request.id'], '7');
    assert.equal(server.attributes['error.type'], 'tool_error');
  });
});

describe('legacy SSE (MCP_TRANSPORT=sse)', () => {
  let mcp: McpProcess;
  let client: Client;
  before(async () => {
    mcp = await servers.start({ MCP_AUTH_TOKEN: TOKEN, MCP_TRANSPORT: 'sse', ...otelEnv() });
    const headers = { authorization: `Bearer ${TOKEN}` };
    client = new Client({ name: 'sse-telemetry-test', version: '1.0.0' });
    await client.connect(
      new SSEClientTransport(new URL(`${mcp.origin}/sse`), {
        requestInit: { headers },
        eventSourceInit: {
          fetch: (url, init) => fetch(url, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } }),
        },
      }),
    );
  });
  after(async () => {
    await client?.close();
  });

  test('each request on the connection is its own span, continuing its _meta.traceparent, with its sandbox calls', async () => {
    const spans = [];
    for (const [i, code] of ['print(1)', 'print(2)'].entries()) {
      const traceId = `b${i}`.repeat(16);
      const result = await client.callTool({
        name: 'run_code',
        arguments: { code },
        _meta: { traceparent: `00-${traceId}-${PARENT_ID}-01` },
      });
      assert.notEqual(result.isError, true);
      spans.push(await requestSpans(traceId, 'tools/call run_code'));
    }
    assert.notEqual(spans[0]!.server.spanId, spans[1]!.server.spanId);
    for (const { server } of spans) {
      assert.equal(server.parentSpanId, PARENT_ID);
      assert.equal(server.attributes['network.protocol.name'], 'http');
    }
  });
});

describe('stdio', () => {
  let client: Client;
  let stderr = '';
  before(async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ['--import', 'tsx', 'handlers/stdio.ts'],
      cwd: ROOT,
      env: { ...getDefaultEnvironment(), SANDBOX_URL: servers.sandbox.url, ...otelEnv() },
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    client = new Client({ name: 'stdio-telemetry-test', version: '1.0.0' });
    await client.connect(transport);
  });
  after(async () => {
    await client?.close();
  });

  test('a tools/call read from stdin is a span over a pipe, continuing _meta.traceparent, its sandbox calls under it', async () => {
    const traceId = 'c3'.repeat(16);
    const result = await client.callTool({
      name: 'run_code',
      arguments: { code: 'print(6 * 7)' },
      _meta: { traceparent: `00-${traceId}-${PARENT_ID}-01` },
    });
    assert.match(textOf(result as never), /42/, stderr);
    const { server, sandboxCalls } = await requestSpans(traceId, 'tools/call run_code');
    assert.equal(server.parentSpanId, PARENT_ID);
    assert.equal(server.attributes['network.transport'], 'pipe');
    assert.equal(server.attributes['network.protocol.name'], undefined);
    assert.ok(sandboxCalls.length >= 1);
  });
});

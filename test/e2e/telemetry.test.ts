/**
 * OpenTelemetry from the MCP server: a real server on a real sandbox exporting to a
 * loopback OTLP receiver, in protobuf and in JSON. One SERVER span per MCP request, named and
 * attributed by the MCP semantic conventions, continuing the caller's traceparent; a CLIENT span
 * per sandbox call under it; error.type on a failed tool call; never code, output or a token in
 * an attribute; the duration metric.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/client';
import { type RunningSandbox, startSandbox } from '../../src/sandbox-service/index.ts';
import { SANDBOX_SERVICE_NAME } from '../../src/sandbox-service/telemetry/load-telemetry.ts';
import { createSandboxTelemetry } from '../../src/sandbox-service/telemetry/sandbox-telemetry.ts';
import { startTelemetry } from '../../src/shared/telemetry/sdk.ts';
import { telemetrySettingsFrom } from '../../src/shared/telemetry/settings.ts';
import { call, connect, mcpOnSandbox, type McpProcess, rawPost, rpcBody, startMcp, structured } from '../support/mcp-harness.ts';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from '../support/otlp-receiver.ts';

const TOKEN = 'telemetry-test-token-0123456789';
const CODE_MARKER = 'code_marker_7f3a';
const OUTPUT_MARKER = 'output-marker-91c2';
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';

const SERVER = 2;
const CLIENT = 3;

const servers = mcpOnSandbox();

function otelEnv(receiver: OtlpReceiver, extra: Record<string, string> = {}): Record<string, string> {
  return {
    MCP_AUTH_TOKEN: TOKEN,
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_BSP_SCHEDULE_DELAY: '50',
    OTEL_METRIC_EXPORT_INTERVAL: '300',
    ...extra,
  };
}

function assertNoSecrets(spans: ReceivedSpan[]) {
  for (const span of spans) {
    const text = JSON.stringify([span.name, span.attributes]);
    for (const secret of [TOKEN, CODE_MARKER, OUTPUT_MARKER]) assert.ok(!text.includes(secret), `${secret} in span ${text}`);
  }
}

for (const protocol of ['http/protobuf', 'http/json'] as const) {
  describe(`MCP server telemetry over OTLP ${protocol}`, () => {
    let receiver: OtlpReceiver;
    let mcp: McpProcess;
    let client: Client;

    before(async () => {
      receiver = await startOtlpReceiver();
      mcp = await servers.start(otelEnv(receiver, { OTEL_EXPORTER_OTLP_PROTOCOL: protocol, OTEL_SERVICE_NAME: 'mcp-under-test' }));
      client = await connect(mcp.url, { authorization: `Bearer ${TOKEN}` });
    });
    after(async () => {
      await client?.close();
      await receiver?.close();
    });

    test('a tools/call is one SERVER span with the conventions attributes, continuing _meta.traceparent, and each sandbox call a CLIENT span under it', async () => {
      const result = await client.callTool({
        name: 'run_code',
        arguments: { code: `${CODE_MARKER} = 1\nprint("${OUTPUT_MARKER}")` },
        _meta: { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` },
      });
      assert.ok(!result.isError, JSON.stringify(result));
      const server = await receiver.waitForSpan((s) => s.name === 'tools/call run_code' && s.traceId === TRACE_ID);
      assert.equal(server.kind, SERVER);
      assert.equal(server.parentSpanId, PARENT_ID);
      assert.equal(server.resource['service.name'], 'mcp-under-test');
      assert.equal(server.attributes['mcp.method.name'], 'tools/call');
      assert.equal(server.attributes['gen_ai.tool.name'], 'run_code');
      assert.equal(server.attributes['gen_ai.operation.name'], 'execute_tool');
      assert.equal(server.attributes['network.transport'], 'tcp');
      assert.equal(server.attributes['mcp.protocol.version'], '2026-07-28');
      assert.equal(typeof server.attributes['jsonrpc.request.id'], 'string');
      assert.equal(server.attributes['error.type'], undefined);
      assert.equal(server.statusCode, 0);

      const execute = await receiver.waitForSpan((s) => s.traceId === TRACE_ID && s.name === 'POST /execute');
      assert.equal(execute.kind, CLIENT);
      assert.equal(execute.parentSpanId, server.spanId);
      assert.equal(execute.attributes['http.response.status_code'], 200);
      assert.ok(execute.durationMs <= server.durationMs, 'the execute span lies within the request span');
      const auth = await receiver.waitForSpan((s) => s.traceId === TRACE_ID && s.name === 'auth');
      assert.equal(auth.parentSpanId, server.spanId);
      assert.ok(auth.durationMs >= 0 && auth.durationMs < server.durationMs);
      // One span per request, not per message of its stream.
      assert.equal(receiver.spans.filter((s) => s.kind === SERVER && s.traceId === TRACE_ID).length, 1);
      assert.ok(
        receiver.contentTypes.some((t) => t.includes(protocol === 'http/json' ? 'json' : 'protobuf')),
        receiver.contentTypes.join(),
      );
    });

    test('the HTTP traceparent header is continued when _meta has none', async () => {
      const traceId = `${'a'.repeat(31)}1`;
      const response = await rawPost(
        mcp.url,
        JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'list_contexts', arguments: {} } }),
        {
          authorization: `Bearer ${TOKEN}`,
          traceparent: `00-${traceId}-${PARENT_ID}-01`,
        },
      );
      assert.ok('result' in (await rpcBody(response)));
      const span = await receiver.waitForSpan((s) => s.traceId === traceId && s.kind === SERVER);
      assert.equal(span.name, 'tools/call list_contexts');
      assert.equal(span.attributes['jsonrpc.request.id'], '7');
      assert.equal(span.parentSpanId, PARENT_ID);
    });

    test('a failed tool call carries error.type tool_error and the failure kind', async () => {
      const result = await call(client, 'run_code', { code: '1', context_id: 'ctx_not_a_real_one' });
      assert.equal(result.isError, true);
      const kind = structured<{ error: { kind: string } }>(result).error.kind;
      const span = await receiver.waitForSpan((s) => s.name === 'tools/call run_code' && s.attributes['error.type'] !== undefined);
      assert.equal(span.attributes['error.type'], 'tool_error');
      assert.equal(span.attributes['code_interpreter.failure.kind'], kind);
      assert.equal(span.statusCode, 2);

      await call(client, 'run_code', { code: 42 });
      const invalid = await receiver.waitForSpan((s) => s.attributes['code_interpreter.failure.kind'] === 'invalid_arguments');
      assert.equal(invalid.attributes['error.type'], 'tool_error');
    });

    test('the duration metric arrives, by method, tool and error.type', async () => {
      // Cumulative: each export holds every call so far; wait for one made after the failed calls.
      const latest = () => receiver.metrics.findLast((m) => m.name === 'mcp.server.operation.duration');
      const deadline = Date.now() + 10_000;
      while (!latest()?.points.some((p) => p['gen_ai.tool.name'] === 'run_code' && p['error.type'] === 'tool_error')) {
        assert.ok(Date.now() < deadline, `no failed run_code in mcp.server.operation.duration: ${JSON.stringify(latest())}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const metric = latest()!;
      assert.equal(metric.service, 'mcp-under-test');
      assert.ok(metric.points.some((p) => p['gen_ai.tool.name'] === 'run_code' && p['error.type'] === undefined));
      assert.ok(metric.points.some((p) => p['gen_ai.tool.name'] === 'list_contexts'));
    });

    test('no code, output or token in any span', () => {
      assert.ok(receiver.spans.length > 3);
      assertNoSecrets(receiver.spans);
    });
  });
}

describe('one trace from the MCP request to the kernel, across both programs', () => {
  let receiver: OtlpReceiver;
  let sandbox: RunningSandbox;
  let mcp: McpProcess;
  let client: Client;

  before(async () => {
    receiver = await startOtlpReceiver();
    const settings = telemetrySettingsFrom(
      { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '50', OTEL_METRIC_EXPORT_INTERVAL: '300' },
      SANDBOX_SERVICE_NAME,
    );
    const telemetry = createSandboxTelemetry(await startTelemetry(settings!));
    sandbox = await startSandbox({ host: '127.0.0.1', port: 0, poolSize: 1 }, { telemetry });
    mcp = await startMcp({ SANDBOX_URL: sandbox.url, ...otelEnv(receiver) });
    client = await connect(mcp.url, { authorization: `Bearer ${TOKEN}` });
  });
  after(async () => {
    await client?.close();
    await mcp?.stop();
    await sandbox?.close();
    await receiver?.close();
  });

  test('run_code: MCP SERVER → sandbox CLIENT → sandbox SERVER → the wait for the kernel and its execution, with count, language and outcome', async () => {
    const created = structured<{ context_id: string }>(await call(client, 'create_context', { language: 'python' }));
    const create = await receiver.waitForSpan(
      (s) => s.name === 'POST /contexts' && s.kind === SERVER && s.resource['service.name'] === SANDBOX_SERVICE_NAME,
    );
    assert.equal(typeof create.attributes['code_interpreter.pool.hit'], 'boolean');

    await call(client, 'run_code', { context_id: created.context_id, code: `${CODE_MARKER} = 2` });
    const traceId = `${'b'.repeat(31)}2`;
    const result = await client.callTool({
      name: 'run_code',
      arguments: { context_id: created.context_id, code: `print("${OUTPUT_MARKER}", ${CODE_MARKER})` },
      _meta: { traceparent: `00-${traceId}-${PARENT_ID}-01` },
    });
    assert.ok(!result.isError, JSON.stringify(result));

    const kernel = await receiver.waitForSpan((s) => s.traceId === traceId && s.name === 'code_interpreter.execute python');
    // Each program exports on its own schedule.
    await receiver.waitForSpan((s) => s.traceId === traceId && s.name === 'tools/call run_code');
    const inTrace = receiver.spans.filter((s) => s.traceId === traceId);
    const byId = new Map(inTrace.map((s) => [s.spanId, s]));
    const chain: string[] = [];
    for (let span: ReceivedSpan | undefined = kernel; span; span = byId.get(span.parentSpanId)) {
      chain.unshift(`${span.resource['service.name']}: ${span.name}`);
    }
    assert.deepEqual(chain, [
      'fc-code-interpreter-mcp: tools/call run_code',
      'fc-code-interpreter-mcp: POST /execute',
      `${SANDBOX_SERVICE_NAME}: POST /execute`,
      `${SANDBOX_SERVICE_NAME}: code_interpreter.execute python`,
    ]);
    assert.equal(kernel.attributes['code_interpreter.language'], 'python');
    assert.equal(kernel.attributes['code_interpreter.outcome'], 'ok');
    assert.equal(kernel.attributes['code_interpreter.execution_count'], 2);
    const queue = inTrace.find((s) => s.name === 'code_interpreter.queue');
    assert.ok(queue, 'the wait for the kernel is a span of the same request');
    assert.equal(byId.get(queue.parentSpanId)?.name, 'POST /execute');
  });

  test('code that raises: outcome code_error on the kernel span, the executions metric by outcome', async () => {
    const traceId = `${'c'.repeat(31)}3`;
    await client.callTool({ name: 'run_code', arguments: { code: '1/0' }, _meta: { traceparent: `00-${traceId}-${PARENT_ID}-01` } });
    const kernel = await receiver.waitForSpan((s) => s.traceId === traceId && s.name === 'code_interpreter.execute python');
    assert.equal(kernel.attributes['code_interpreter.outcome'], 'code_error');
    assert.equal(kernel.attributes['error.type'], 'code_error');
    assert.equal(kernel.statusCode, 2);
    const deadline = Date.now() + 10_000;
    const latest = () => receiver.metrics.findLast((m) => m.name === 'code_interpreter.executions' && m.service === SANDBOX_SERVICE_NAME);
    while (!latest()?.points.some((p) => p['code_interpreter.outcome'] === 'code_error')) {
      assert.ok(Date.now() < deadline, `no code_interpreter.executions with code_error: ${JSON.stringify(latest())}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const names = new Set(receiver.metrics.filter((m) => m.service === SANDBOX_SERVICE_NAME).map((m) => m.name));
    for (const name of ['code_interpreter.execution.duration', 'code_interpreter.contexts.active', 'code_interpreter.kernels.taken']) {
      assert.ok(names.has(name), `${name} among ${[...names].join(', ')}`);
    }
  });

  test("the memory contexts hold, by language: a context's 200 MB show in its largest and in the total", async () => {
    const made = await client.callTool({ name: 'create_context', arguments: { language: 'python' } });
    const { context_id } = made.structuredContent as { context_id: string };
    const held = await client.callTool({ name: 'run_code', arguments: { context_id, code: 'held = bytearray(200 * 2**20)' } });
    assert.notEqual(held.isError, true);
    const python = (name: string) => {
      const metric = receiver.metrics.findLast((m) => m.name === name && m.service === SANDBOX_SERVICE_NAME);
      const at = metric?.points.findIndex((p) => p['code_interpreter.language'] === 'python') ?? -1;
      return at < 0 ? undefined : metric!.values[at];
    };
    const deadline = Date.now() + 10_000;
    while (!((python('code_interpreter.context.memory.max') ?? 0) > 200 * 2 ** 20)) {
      assert.ok(Date.now() < deadline, `code_interpreter.context.memory.max (python) is ${python('code_interpreter.context.memory.max')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(python('code_interpreter.contexts.memory')! >= python('code_interpreter.context.memory.max')!);
    assert.ok(python('code_interpreter.contexts.count')! >= 1);
    await client.callTool({ name: 'stop_context', arguments: { context_id } });
  });

  test('no code, output or token in any span of either program', () => {
    assert.ok(receiver.spans.some((s) => s.resource['service.name'] === SANDBOX_SERVICE_NAME));
    assertNoSecrets(receiver.spans);
  });
});

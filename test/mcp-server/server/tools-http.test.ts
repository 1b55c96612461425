// The code tools through the official MCP client (the file tools: test/mcp-server/file-tools/files.test.ts) over Streamable HTTP, in both protocol
// eras (2026-07-28, and 2025-11-25 with initialize), against a real MCP server process
// and a real sandbox service (one of each for the whole file).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { LOG_LEVEL_META_KEY, type CallToolResult, type Client } from '@modelcontextprotocol/client';
import {
  ERAS,
  type Era,
  call,
  connect,
  connectEachEra,
  mcpOnSandbox,
  rawPost,
  rpcBody,
  structured,
  TOOL_NAMES,
  textOf,
  type McpProcess,
} from '../../support/mcp-harness.ts';
import { eventually } from '../../support/eventually.ts';

const servers = mcpOnSandbox();
let mcp: McpProcess;
let clients: Map<Era, Client>;

before(async () => {
  mcp = await servers.start();
  clients = await connectEachEra(mcp.url);
});

after(async () => {
  for (const client of clients?.values() ?? []) await client.close();
});

type RunOutput = {
  stdout: string;
  stderr: string;
  results: { is_main_result: boolean; formats: string[]; text?: string }[];
  error: { name: string; value: string; traceback: string } | null;
  execution_count: number | null;
};

for (const era of ERAS) {
  describe(`${era} era`, () => {
    let client: Client;
    before(() => {
      client = clients.get(era)!;
    });

    async function newContext(description?: string): Promise<string> {
      const result = await call(client, 'create_context', { language: 'python', ...(description ? { description } : {}) });
      assert.equal(result.isError, undefined, textOf(result));
      return structured<{ context_id: string }>(result).context_id;
    }

    test('tools/list: every tool with input and output schemas and annotations', async () => {
      const { tools } = await client.listTools();
      assert.deepEqual(tools.map((t) => t.name).sort(), TOOL_NAMES);
      for (const tool of tools) {
        assert.equal(tool.inputSchema.type, 'object', tool.name);
        assert.equal(tool.outputSchema?.type, 'object', tool.name);
        assert.ok(tool.description && tool.description.length > 60, `${tool.name} has a real description`);
        assert.equal(typeof tool.annotations?.readOnlyHint, 'boolean', tool.name);
      }
      const run = tools.find((t) => t.name === 'run_code')!;
      assert.deepEqual(Object.keys(run.inputSchema.properties ?? {}).sort(), [
        'code',
        'context_id',
        'language',
        'timeout_seconds',
        'wait_seconds',
      ]);
      assert.deepEqual(run.inputSchema.required, ['code']);
      assert.match(run.description!, /fresh context that is removed/);
      assert.equal(tools.find((t) => t.name === 'list_contexts')!.annotations?.readOnlyHint, true);
      assert.equal(tools.find((t) => t.name === 'stop_context')!.annotations?.destructiveHint, true);
    });

    test('health_check reports the sandbox healthy', async () => {
      const health = structured<{ status: string; sandbox_url: string; response_code: number }>(await call(client, 'health_check'));
      assert.equal(health.status, 'healthy');
      assert.equal(health.sandbox_url, servers.sandbox.url);
      assert.equal(health.response_code, 200);
    });

    test('state persists across run_code calls in one context', async () => {
      const id = await newContext();
      const first = await call(client, 'run_code', { context_id: id, code: 'x = 20\ndef double(v):\n    return v * 2' });
      assert.equal(first.isError, false, textOf(first));
      const second = await call(client, 'run_code', { context_id: id, code: 'print("hello")\ndouble(x) + 2' });
      const out = structured<RunOutput>(second);
      assert.equal(second.isError, false);
      assert.equal(out.stdout, 'hello\n');
      assert.equal(out.results.find((r) => r.is_main_result)?.text, '42');
      assert.equal(out.error, null);
      assert.ok(out.execution_count !== null && out.execution_count >= 2);
      assert.match(textOf(second), /hello/);
      assert.match(textOf(second), /42/);
      await call(client, 'stop_context', { context_id: id });
    });

    test('TypeScript and JavaScript contexts keep state too', async () => {
      const ts = structured<{ context_id: string; language: string }>(
        await call(client, 'create_context', { language: 'ts', description: 'typed' }),
      );
      assert.equal(ts.language, 'typescript');
      await call(client, 'run_code', { context_id: ts.context_id, code: 'const base: number = 21;' });
      const run = await call(client, 'run_code', { context_id: ts.context_id, code: 'console.log("from deno"); base * 2' });
      assert.equal(run.isError, false, textOf(run));
      assert.equal(structured<RunOutput>(run).stdout, 'from deno\n');
      assert.equal(structured<RunOutput>(run).results.find((r) => r.is_main_result)?.text, '42');
      const js = await call(client, 'run_code', { language: 'javascript', code: 'throw new TypeError("nope")' });
      assert.equal(js.isError, true);
      assert.equal(structured<RunOutput>(js).error?.name, 'TypeError');
      await call(client, 'stop_context', { context_id: ts.context_id });
    });

    test('a matplotlib chart arrives as image content', async () => {
      const result = await call(client, 'run_code', {
        code: 'import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [3, 1, 2])\nplt.show()',
        language: 'python',
      });
      assert.equal(result.isError, false, textOf(result));
      const image = result.content.find((c) => c.type === 'image');
      assert.ok(image && image.type === 'image', 'an image block');
      assert.equal(image.mimeType, 'image/png');
      assert.equal(Buffer.from(image.data, 'base64').subarray(1, 4).toString(), 'PNG');
      assert.ok(structured<RunOutput>(result).results.some((r) => r.formats.includes('png')));
    });

    test('a raised error is a tool error with its name, message and traceback', async () => {
      const result = await call(client, 'run_code', { code: 'def f():\n    raise ValueError("bad value 7")\nf()' });
      assert.equal(result.isError, true);
      const { error } = structured<RunOutput>(result);
      assert.equal(error?.name, 'ValueError');
      assert.equal(error?.value, 'bad value 7');
      assert.match(error?.traceback ?? '', /f\(\)/);
      assert.match(textOf(result), /ValueError: bad value 7/);
    });

    test('run_code with only a language runs in a fresh context that is removed afterwards', async () => {
      const before = structured<{ contexts: unknown[] }>(await call(client, 'list_contexts')).contexts.length;
      const first = await call(client, 'run_code', { code: 'secret = 1\nsecret', language: 'py' });
      assert.equal(structured<RunOutput>(first).results[0]?.text, '1');
      const second = await call(client, 'run_code', { code: 'secret' });
      assert.equal(second.isError, true, 'nothing persists between one-off runs');
      assert.equal(structured<RunOutput>(second).error?.name, 'NameError');
      const afterRuns = structured<{ contexts: unknown[] }>(await call(client, 'list_contexts')).contexts.length;
      assert.equal(afterRuns, before, 'no context left behind');
    });

    test('list_contexts shows each context with its description, and stop_context removes it', async () => {
      const id = await newContext('sales analysis');
      const { contexts } = structured<{
        contexts: { context_id: string; description: string; language: string; created_at: string; status: string }[];
      }>(await call(client, 'list_contexts'));
      const mine = contexts.find((c) => c.context_id === id);
      assert.ok(mine, 'the new context is listed under the id create_context gave');
      assert.equal(mine.description, 'sales analysis');
      assert.equal(mine.language, 'python');
      assert.equal(mine.status, 'active');
      assert.ok(!Number.isNaN(Date.parse(mine.created_at)));

      const stopped = await call(client, 'stop_context', { context_id: id });
      assert.deepEqual(structured(stopped), { success: true, context_id: id, message: `context ${id} stopped` });
      const again = await call(client, 'run_code', { context_id: id, code: '1' });
      assert.equal(again.isError, true);
      assert.match(textOf(again), /unknown or expired context/);
      const listed = structured<{ contexts: { context_id: string }[] }>(await call(client, 'list_contexts')).contexts;
      assert.ok(!listed.some((c) => c.context_id === id));
    });

    test('invented and tampered context ids are refused as unknown contexts', async () => {
      const id = await newContext();
      const tampered = id.slice(0, 6) + (id[6] === 'A' ? 'B' : 'A') + id.slice(7);
      for (const bad of ['ctx_made_up.AAAA', tampered, 'not-an-id']) {
        for (const tool of ['run_code', 'stop_context'] as const) {
          const result = await call(client, tool, { context_id: bad, code: '1' });
          assert.equal(result.isError, true);
          assert.match(textOf(result), /^unknown context "/, `${tool} ${bad}`);
        }
      }
      // The real context is untouched.
      assert.equal((await call(client, 'run_code', { context_id: id, code: '1' })).isError, false);
      await call(client, 'stop_context', { context_id: id });
    });

    test('bad arguments get a precise error and change nothing', async () => {
      const noCode = await call(client, 'run_code', { language: 'python' });
      assert.equal(noCode.isError, true);
      assert.match(textOf(noCode), /invalid arguments for run_code: code: /);
      const badLanguage = await call(client, 'create_context', { language: 'cobol' });
      assert.equal(badLanguage.isError, true);
      assert.match(textOf(badLanguage), /language: .*python.*javascript.*typescript/);
    });

    test('progress and log notifications arrive while a 3-second run streams', async () => {
      const logs: string[] = [];
      client.setNotificationHandler('notifications/message', (n) => {
        logs.push(String(n.params.data));
      });
      const progress: { progress: number; message?: string }[] = [];
      let resultArrived = false;
      const result = (await client.callTool(
        {
          name: 'run_code',
          arguments: { code: 'import time\nfor i in range(3):\n    print(f"step {i}", flush=True)\n    time.sleep(1)' },
          // 2026-07-28 sends logs only when the request asks; a 2025 client gets them by default.
          ...(era === 'modern' ? { _meta: { [LOG_LEVEL_META_KEY]: 'info' } } : {}),
        },
        {
          onprogress: (p) => {
            assert.equal(resultArrived, false, 'progress comes before the result');
            progress.push(p);
          },
          resetTimeoutOnProgress: true,
        },
      )) as CallToolResult;
      resultArrived = true;
      assert.equal(result.isError, false, textOf(result));
      assert.equal(structured<RunOutput>(result).stdout, 'step 0\nstep 1\nstep 2\n', 'the final result still holds all output');
      assert.ok(progress.length >= 2, `several progress notifications (got ${progress.length})`);
      assert.match(progress[0]!.message ?? '', /step 0/);
      assert.ok(
        progress.every((p, i) => i === 0 || p.progress > progress[i - 1]!.progress),
        'progress increases',
      );
      assert.ok(logs.join('').includes('step 0') && logs.join('').includes('step 2'), 'log messages carry the output');
    });

    test('a client that disconnects mid-run aborts the sandbox call', async () => {
      const id = await newContext();
      const leaving = await connect(mcp.url, {}, era);
      let started!: () => void;
      const runStarted = new Promise<void>((resolve) => (started = resolve));
      const pending = leaving
        .callTool(
          {
            name: 'run_code',
            arguments: { context_id: id, code: 'import time\nprint("started", flush=True)\ntime.sleep(30)\nfinished = True' },
          },
          // Mid-run means the code is running: a keep-alive's progress can come before the kernel starts the cell.
          { onprogress: (p) => /started/.test(p.message ?? '') && started() },
        )
        .catch(() => 'disconnected');
      await runStarted;
      await leaving.close();
      assert.equal(await pending, 'disconnected');
      // Had the run gone on, this would wait for it and then see `finished`.
      const check = await call(client, 'run_code', { context_id: id, code: 'print(globals().get("finished"))' });
      assert.equal(structured<RunOutput>(check).stdout, 'None\n');
      await call(client, 'stop_context', { context_id: id });
    });

    if (era === 'modern') {
      test('2026-07-28: no log notifications unless the request asks for a log level', async () => {
        const logs: string[] = [];
        client.setNotificationHandler('notifications/message', (n) => {
          logs.push(String(n.params.data));
        });
        const result = await call(client, 'run_code', { code: 'print("quiet please")' });
        assert.equal(structured<RunOutput>(result).stdout, 'quiet please\n');
        assert.deepEqual(logs, []);
      });
    }
  });
}

test('protocol versions 2025-03-26 to 2025-11-25 negotiate', async () => {
  for (const version of ['2025-03-26', '2025-06-18', '2025-11-25']) {
    const response = await rawPost(
      mcp.url,
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
      }),
    );
    assert.equal(response.status, 200);
    const body = (await rpcBody(response)) as { result: { protocolVersion: string } };
    assert.equal(body.result.protocolVersion, version);
  }
});

test('one info line per MCP request names the method, tool, outcome and duration, and never the code or its output', async () => {
  const client = clients.get('modern')!;
  const before = mcp.logs().length;
  await call(client, 'run_code', { code: 'print("very-private-output-" + "x")  # very-private-code' });
  assert.ok(await eventually(() => mcp.logs().length > before), 'the call is logged');
  const lines = mcp.logs().filter((l) => l.tool === 'run_code');
  assert.ok(lines.length > 0);
  for (const line of lines) {
    assert.equal(line.msg, 'mcp request');
    assert.equal(line.method, 'tools/call');
    assert.equal(typeof line.request_id, 'string');
    assert.equal(typeof line.duration_ms, 'number');
    assert.ok(['ok', 'tool_error', 'invalid_arguments', 'cancelled'].includes(String(line.outcome)), String(line.outcome));
    assert.equal(typeof line.time, 'string');
    assert.equal(line.level, 'info');
  }
  assert.ok(
    !mcp.stderr().includes('very-private'),
    `no code or output in the logs:\n${mcp
      .stderr()
      .split('\n')
      .filter((l) => l.includes('very-private'))
      .join('\n')}`,
  );
});

test('nothing else is logged at info per request: one line each', async () => {
  const client = clients.get('legacy')!;
  const before = mcp.logs().length;
  await client.listTools(undefined, { cacheMode: 'bypass' });
  await call(client, 'health_check');
  assert.ok(await eventually(() => mcp.logs().length >= before + 2));
  await new Promise((r) => setTimeout(r, 200));
  const lines = mcp
    .logs()
    .slice(before)
    .filter((l) => l.level === 'info');
  assert.deepEqual(
    lines.map((l) => [l.msg, l.method, l.tool ?? null]),
    [
      ['mcp request', 'tools/list', null],
      ['mcp request', 'tools/call', 'health_check'],
    ],
  );
});

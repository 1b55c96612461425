// What agent developers' clients stumbled on in the second round, each with the
// client that found it, against a real MCP server on a real sandbox: the official SDKs'
// 60 s request deadline, the Vercel AI SDK's strict base64 check, Mastra's use of
// structuredContent alone (checked with the 1.x SDK and LangChain's adapters), the
// Inspector's one server per stdio call, OpenAI's Agents SDK's strict schemas, and what
// stdio prints on stderr.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createMCPClient } from '@ai-sdk/mcp';
import { loadMcpTools } from '@langchain/mcp-adapters';
import { MCPServerStreamableHttp, mcpToFunctionTool } from '@openai/agents-core';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { DEFAULT_REQUEST_TIMEOUT_MSEC } from '@modelcontextprotocol/sdk/shared/protocol.js';
import { type McpProcess, mcpOnSandbox, ROOT, structured, textOf } from '../support/mcp-harness.ts';

const servers = mcpOnSandbox();
let mcp: McpProcess;
let client: Client;

const callTool = async (name: string, args: Record<string, unknown> = {}) =>
  (await client.callTool({ name, arguments: args })) as CallToolResult;

before(async () => {
  mcp = await servers.start();
  client = new Client({ name: 'round-two-1x', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(mcp.url)));
  // After listTools the 1.x client validates every structuredContent against the output schema.
  await client.listTools();
});

after(async () => {
  await client?.close();
});

const CHART = 'import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [3, 1, 2])\nplt.show()';

describe('waits a client can survive (official SDKs, 60 s deadline)', () => {
  test("run_code's and wait_run's wait_seconds end well before the SDK's request timeout, and say why", async () => {
    const { tools } = await client.listTools();
    const deadline = DEFAULT_REQUEST_TIMEOUT_MSEC / 1000;
    for (const name of ['run_code', 'wait_run']) {
      const wait = tools.find((t) => t.name === name)!.inputSchema.properties!.wait_seconds as { maximum: number; description: string };
      assert.ok(wait.maximum <= deadline - 5, `${name}: wait_seconds up to ${wait.maximum} s against the client's ${deadline} s`);
      assert.match(wait.description, /60 s/);
    }
  });

  test('a wait beyond the bound is refused with the reason, before anything runs', async () => {
    for (const [name, args] of [
      ['run_code', { code: 'print("never")', wait_seconds: 90 }],
      ['wait_run', { run_id: 'run_x', wait_seconds: 60 }],
    ] as const) {
      const result = await callTool(name, args);
      assert.equal(result.isError, true, name);
      assert.match(textOf(result), /wait_seconds is at most 50: MCP clients time a request out at 60 s/, name);
    }
  });

  test('a run longer than its wait keeps its output for wait_run', async () => {
    const ctx = structured<{ context_id: string }>(await callTool('create_context')).context_id;
    const first = await callTool('run_code', {
      context_id: ctx,
      code: 'import time\nprint("before", flush=True)\ntime.sleep(2)\nprint("after")',
      wait_seconds: 0.5,
    });
    const running = structured<{ status: string; run_id: string; stdout: string }>(first);
    assert.equal(running.status, 'running');
    const done = structured<{ status: string; stdout: string }>(await callTool('wait_run', { run_id: running.run_id, wait_seconds: 20 }));
    assert.equal(done.status, 'done');
    assert.equal(running.stdout + done.stdout, 'before\nafter\n');
  });
});

describe("charts every SDK parses (Vercel AI SDK's MCP client)", () => {
  test('a matplotlib chart reaches the AI SDK as canonical base64, with no newline', async () => {
    const ai = await createMCPClient({ transport: { type: 'http', url: mcp.url } });
    try {
      const tools = await ai.tools();
      const result = (await tools.run_code!.execute!({ code: CHART }, { toolCallId: 'chart', messages: [] })) as CallToolResult;
      const image = result.content.find((c) => c.type === 'image') as { data: string; mimeType: string } | undefined;
      assert.ok(image, JSON.stringify(result.content.map((c) => c.type)));
      assert.equal(image.mimeType, 'image/png');
      assert.match(image.data, /^[A-Za-z0-9+/]+={0,2}$/);
      assert.equal(Buffer.from(image.data, 'base64').toString('base64'), image.data);
      assert.equal(Buffer.from(image.data, 'base64').subarray(1, 4).toString(), 'PNG');
    } finally {
      await ai.close();
    }
  });
});

describe('file contents in structured output (what Mastra and structured-first clients read)', () => {
  let ctx: string;
  before(async () => {
    ctx = structured<{ context_id: string }>(await callTool('create_context')).context_id;
    await callTool('write_file', { context_id: ctx, path: 'notes.txt', content: 'héllo\nworld\n' });
    await callTool('run_code', {
      context_id: ctx,
      code: `${CHART.replace('plt.show()', 'plt.savefig("c.png")')}\nopen("b.bin","wb").write(bytes(range(256)))`,
    });
  });

  test('read_file carries text as text, images and binaries as base64, in structuredContent', async () => {
    const text = structured<{ kind: string; content: string; encoding: string }>(
      await callTool('read_file', { context_id: ctx, path: 'notes.txt' }),
    );
    assert.deepEqual([text.kind, text.encoding, text.content], ['text', 'utf-8', 'héllo\nworld\n']);

    const png = structured<{ kind: string; content: string; encoding: string }>(
      await callTool('read_file', { context_id: ctx, path: 'c.png' }),
    );
    assert.deepEqual([png.kind, png.encoding], ['image', 'base64']);
    assert.equal(Buffer.from(png.content, 'base64').subarray(1, 4).toString(), 'PNG');

    const bin = structured<{ kind: string; content: string; encoding: string }>(
      await callTool('read_file', { context_id: ctx, path: 'b.bin' }),
    );
    assert.deepEqual([bin.kind, bin.encoding], ['binary', 'base64']);
    assert.deepEqual([...Buffer.from(bin.content, 'base64')], [...Array(256).keys()]);
  });

  test('a file over max_bytes is a link, with no content', async () => {
    const link = await callTool('read_file', { context_id: ctx, path: 'b.bin', max_bytes: 10 });
    const out = structured<{ kind: string; content?: string }>(link);
    assert.equal(out.kind, 'link');
    assert.equal(out.content, undefined);
  });

  test("LangChain's adapters hand the model the file's text", async () => {
    const tools = await loadMcpTools('ci', client as never);
    const readFile = tools.find((t) => t.name === 'read_file')!;
    const answer = await readFile.invoke({ context_id: ctx, path: 'notes.txt' });
    assert.match(JSON.stringify(answer), /héllo\\nworld/);
  });
});

describe("strict schemas (OpenAI's Agents SDK, convertSchemasToStrict)", () => {
  test('every tool converts to a strict function tool', async () => {
    const server = new MCPServerStreamableHttp({ url: mcp.url, name: 'code-interpreter' });
    await server.connect();
    try {
      const tools = await server.listTools();
      assert.ok(tools.length >= 10);
      const loose = tools.filter((tool) => !(mcpToFunctionTool(tool, server, true) as { strict: boolean }).strict).map((t) => t.name);
      assert.deepEqual(loose, []);
    } finally {
      await server.close();
    }
  });
});

describe('the analyze_file prompt promises only what the sandbox has', () => {
  test('it does not send the model to read_parquet, which fails without pyarrow', async () => {
    const got = await client.getPrompt({ name: 'analyze_file', arguments: { file: 'data.parquet' } });
    const text = (got.messages[0]!.content as { text: string }).text;
    assert.doesNotMatch(text, /read_parquet/);
    const probe = structured<{ error: { name: string } | null }>(await callTool('run_code', { code: 'import pyarrow' }));
    // Were pyarrow ever installed, the prompt could promise Parquet again.
    assert.equal(probe.error?.name, 'ModuleNotFoundError');
  });
});

describe('the output-cap note says what was kept', () => {
  test('a run stopped at the sandbox output cap says the saved file holds what was kept, not the full output', async () => {
    const ctx = structured<{ context_id: string }>(await callTool('create_context')).context_id;
    // 5 MiB of output: past the sandbox's 4 MiB cap, which stops the run.
    const result = await callTool('run_code', {
      context_id: ctx,
      code: 'import sys\nfor i in range(5 * 1024):\n    sys.stdout.write("x" * 1023 + "\\n")',
    });
    const out = structured<{ error: { name: string } | null }>(result);
    assert.equal(out.error?.name, 'OutputLimitExceeded');
    assert.match(textOf(result), /what the sandbox kept before it stopped the run at its output limit is in \/home\/user\/outputs\//);
    assert.doesNotMatch(textOf(result), /the whole output|the full output/);
  });
});

describe('stdio (Inspector CLI: one server per call; OpenAI MCPServerStdio shows stderr)', () => {
  async function stdioSession(env: Record<string, string> = {}) {
    let stderr = '';
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ['--import', 'tsx', 'handlers/stdio.ts'],
      cwd: ROOT,
      env: { ...getDefaultEnvironment(), SANDBOX_URL: servers.sandbox.url, ...env },
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const c = new Client({ name: 'stdio-round-two', version: '1.0.0' });
    await c.connect(transport);
    await c.listTools();
    return { client: c, stderr: () => stderr };
  }

  test('a context id from a restarted server says the secret may have changed, and what to set', async () => {
    const first = await stdioSession();
    let ctx: string;
    try {
      ctx = structured<{ context_id: string }>(
        (await first.client.callTool({ name: 'create_context', arguments: {} })) as CallToolResult,
      ).context_id;
    } finally {
      await first.client.close();
    }
    const second = await stdioSession();
    try {
      const result = (await second.client.callTool({ name: 'run_code', arguments: { context_id: ctx, code: '1' } })) as CallToolResult;
      assert.equal(result.isError, true);
      assert.match(textOf(result), /restarted since with another CONTEXT_SECRET/);
      assert.match(textOf(result), /set CONTEXT_SECRET/);
    } finally {
      await second.client.close();
    }
  });

  test('with no LOG_LEVEL, a tool call writes nothing to stderr; LOG_LEVEL=info still logs', async () => {
    const quiet = await stdioSession();
    try {
      await quiet.client.callTool({ name: 'run_code', arguments: { code: 'print(1)' } });
    } finally {
      await quiet.client.close();
    }
    assert.doesNotMatch(quiet.stderr(), /"level":"info"/);

    const chatty = await stdioSession({ LOG_LEVEL: 'info' });
    try {
      await chatty.client.callTool({ name: 'run_code', arguments: { code: 'print(1)' } });
    } finally {
      await chatty.client.close();
    }
    assert.match(chatty.stderr(), /"level":"info"/);
  });
});

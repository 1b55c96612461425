// What real clients stumbled on, each against real processes: a real
// MCP server on a real sandbox service, spoken to with the 1.x SDK client (what most
// platforms, mcp-remote and Inspector 0.15 use), and handlers/stdio.ts spoken to raw.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { eventually } from '../support/eventually.ts';
import { type McpProcess, mcpOnSandbox, ROOT, rawPost, rpcBody, structured, textOf } from '../support/mcp-harness.ts';
import { stopChild } from '../support/processes.ts';

const servers = mcpOnSandbox();
let mcp: McpProcess;
let client: Client;

before(async () => {
  mcp = await servers.start();
  client = new Client({ name: 'stumbles-1x', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(mcp.url)));
  await client.listTools();
});

after(async () => {
  await client?.close();
});

const callTool = async (name: string, args: Record<string, unknown> = {}) =>
  (await client.callTool({ name, arguments: args })) as CallToolResult;

async function newContext(): Promise<string> {
  return structured<{ context_id: string }>(await callTool('create_context')).context_id;
}

describe('prompts', () => {
  test('prompts/list offers analyze_file; prompts/get words the request with its arguments', async () => {
    const { prompts } = await client.listPrompts();
    const analyze = prompts.find((p) => p.name === 'analyze_file');
    assert.ok(analyze, JSON.stringify(prompts));
    assert.deepEqual(
      analyze.arguments?.map((a) => [a.name, a.required]),
      [
        ['file', true],
        ['question', false],
        ['context_id', false],
      ],
    );
    const got = await client.getPrompt({
      name: 'analyze_file',
      arguments: { file: 'https://example.com/data/sales.csv', question: 'which month sold most?' },
    });
    const text = (got.messages[0]!.content as { text: string }).text;
    assert.match(text, /write_file \(url "https:\/\/example\.com\/data\/sales\.csv", and a path such as "data\/sales\.csv"\)/);
    assert.match(text, /create_context/);
    assert.match(text, /which month sold most\?/);
  });

  test('a missing argument or an unknown prompt is a precise error', async () => {
    await assert.rejects(client.getPrompt({ name: 'analyze_file', arguments: {} }), /needs the argument "file"/);
    await assert.rejects(client.getPrompt({ name: 'nope' }), /unknown prompt "nope".*analyze_file/);
  });
});

describe('tools', () => {
  let ctx: string;
  before(async () => {
    ctx = await newContext();
  });

  test('resource links carry a mimeType', async () => {
    const run = await callTool('run_code', {
      context_id: ctx,
      code: 'import os\nos.makedirs("out", exist_ok=True)\nopen("out/t.csv","w").write("a\\n1\\n")\nopen("out/blob.weird","wb").write(b"x")',
    });
    const links = run.content.filter((c) => c.type === 'resource_link') as { name: string; mimeType?: string }[];
    assert.deepEqual(links.map((l) => [l.name, l.mimeType]).sort(), [
      ['blob.weird', 'application/octet-stream'],
      ['t.csv', 'text/csv'],
    ]);
  });

  test('list_files goes into folders by default and says where it stopped', async () => {
    await callTool('run_code', {
      context_id: ctx,
      code: 'import os\nos.makedirs("a/b/c/d", exist_ok=True)\nopen("a/b/found.txt","w").write("x")\nopen("a/b/c/d/deep.txt","w").write("x")',
    });
    const listed = await callTool('list_files', { context_id: ctx });
    const files = structured<{ files: { path: string }[]; depth: number; truncated: boolean }>(listed);
    assert.ok(
      files.files.some((f) => f.path.endsWith('/a/b/found.txt')),
      textOf(listed),
    );
    assert.ok(!files.files.some((f) => f.path.endsWith('deep.txt')), textOf(listed));
    assert.equal(files.depth, 3);
    assert.equal(files.truncated, false);
    assert.match(textOf(listed), /folders 3 levels down are not opened/);
  });

  test('list_files says when it cut the count', async () => {
    await callTool('run_code', {
      context_id: ctx,
      code: 'import os\nos.makedirs("many", exist_ok=True)\nfor i in range(600): open(f"many/{i:03}.txt","w").write("x")',
    });
    const listed = await callTool('list_files', { context_id: ctx, path: 'many' });
    const files = structured<{ files: unknown[]; truncated: boolean }>(listed);
    assert.equal(files.files.length, 500);
    assert.equal(files.truncated, true);
    assert.match(textOf(listed), /cut at 500 entries/);
  });

  test('a one-off run that writes files says they were discarded', async () => {
    const run = await callTool('run_code', { code: 'open("report.csv","w").write("a\\n")\nprint("done")' });
    assert.equal(run.isError, false, textOf(run));
    assert.match(textOf(run), /wrote a file \(report\.csv\), discarded with its one-off context/);
    const quiet = await callTool('run_code', { code: 'print("nothing written")' });
    assert.doesNotMatch(textOf(quiet), /discarded/);
  });

  test('a wrong language names the supported ones and their aliases', async () => {
    for (const [tool, args] of [
      ['create_context', { language: 'cobol' }],
      ['run_code', { language: 'cobol', code: '1' }],
    ] as const) {
      const result = await callTool(tool, args);
      assert.equal(result.isError, true);
      assert.match(
        textOf(result),
        /unsupported language "cobol"; supported: python, javascript, typescript, bash, r \(aliases: py, js, ts, sh\)/,
      );
    }
    assert.equal((await callTool('run_code', { language: 'PY', code: '1' })).isError, false, 'an alias in any case works');
  });
});

describe('the request log', () => {
  test('a -32601 answer is logged as an error, with its code; a result as ok', async () => {
    const answer = await rpcBody(await rawPost(mcp.url, JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'no/such/method' })));
    assert.equal((answer.error as { code: number }).code, -32601);
    await rawPost(mcp.url, JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'tools/list' }));
    const line = (method: string) => mcp.logs().find((l) => l.msg === 'mcp request' && l.method === method);
    assert.ok(await eventually(() => line('tools/list') !== undefined && line('no/such/method') !== undefined), mcp.stderr());
    assert.equal(line('no/such/method')!.outcome, 'error');
    assert.equal(line('no/such/method')!.error, '-32601 Method not found');
    assert.equal(line('tools/list')!.outcome, 'ok');
  });
});

describe('stdio', () => {
  test('a line that is not JSON gets -32700, one that is no JSON-RPC message -32600; the session goes on; stderr is JSON lines only', async () => {
    // With its own sandbox service, as desktop clients start it.
    const child = spawn(process.execPath, ['--import', 'tsx', 'handlers/stdio.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', SANDBOX_POOL_SIZE: '0', LOG_LEVEL: 'info' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    try {
      const answers = () =>
        out
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { id: unknown; error?: { code: number; message: string }; result?: unknown });
      child.stdin.write('this is not json\n');
      child.stdin.write('{"half": \n');
      child.stdin.write('{"not":"json-rpc"}\n');
      child.stdin.write(
        `${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } })}\n`,
      );
      assert.ok(await eventually(() => answers().some((a) => a.id === 1), 60_000), `stdout:\n${out}\nstderr:\n${err}`);
      const errors = answers().filter((a) => a.error);
      assert.deepEqual(
        errors.map((a) => [a.id, a.error!.code]),
        [
          [null, -32700],
          [null, -32700],
          [null, -32600],
        ],
      );
      assert.match(errors[0]!.error!.message, /not JSON/);
      assert.ok(answers().find((a) => a.id === 1)?.result, 'initialize still answered');
      child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`);
      child.stdin.write(
        `${JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'health_check', arguments: {} } })}\n`,
      );
      assert.ok(await eventually(() => answers().some((a) => a.id === 2), 60_000), out);
      // The sandbox service started (its limits line included): every stderr line is a JSON log line.
      assert.ok(await eventually(() => err.includes('sandbox limits')), err);
      for (const line of err.split('\n').filter(Boolean)) assert.doesNotThrow(() => JSON.parse(line), `not JSON on stderr: ${line}`);
    } finally {
      child.stdin.end();
      await stopChild(child);
    }
  });
});

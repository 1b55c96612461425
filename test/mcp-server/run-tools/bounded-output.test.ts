// run_code's answer is bounded (MCP_MAX_TEXT_BYTES): head and tail with a note in the
// text block and in each output field of structuredContent, the full output saved as a
// file in the context's workspace and linked. Real server, real sandbox, the 1.x client
// after listTools (so every bounded answer still matches the output schema).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { CallToolResult } from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type McpProcess, mcpOnSandbox, structured, textOf } from '../../support/mcp-harness.ts';

const MAX = 4096;
const servers = mcpOnSandbox();
let small: McpProcess;
let client: Client;
let ctx: string;

before(async () => {
  small = await servers.start({ MCP_MAX_TEXT_BYTES: String(MAX) });
  client = new Client({ name: 'bounded-1x', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(small.url)));
  await client.listTools();
  ctx = structured<{ context_id: string }>(await callTool('create_context')).context_id;
});

after(async () => {
  await client?.close();
});

async function callTool(name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

type RunOutput = { stdout: string; stderr: string; error: { name: string; traceback: string } | null };

test('a long output: head and tail with a note, the full output saved and linked, nothing lost', async () => {
  const code = 'print("FIRST LINE")\nfor i in range(20000): print(f"line {i:05}")\nprint("LAST LINE")';
  const run = await callTool('run_code', { context_id: ctx, code });
  assert.equal(run.isError, false, textOf(run).slice(0, 500));
  const text = textOf(run);
  const out = structured<RunOutput>(run);
  for (const bounded of [text, out.stdout]) {
    assert.ok(Buffer.byteLength(bounded) < MAX + 400, `${Buffer.byteLength(bounded)} bytes`);
    assert.match(bounded, /FIRST LINE/);
    assert.match(bounded, /LAST LINE/);
    assert.match(bounded, /\[… \d+ bytes of \d+ cut here \(MCP_MAX_TEXT_BYTES=4096\); the full output is in \/home\/user\/outputs\/run-/);
  }
  const link = run.content.find((c) => c.type === 'resource_link') as { uri: string; name: string; mimeType: string } | undefined;
  assert.ok(link, 'the full output is linked');
  assert.equal(link.mimeType, 'text/plain');
  const full = (await client.readResource({ uri: link.uri })).contents[0] as { text: string };
  assert.match(full.text, /^stdout:\nFIRST LINE\nline 00000\n/);
  assert.match(full.text, /line 12345\n/, 'the middle the answer cut is in the file');
  assert.match(full.text, /LAST LINE$/);
});

test('a long traceback keeps its head and its end; a short output is untouched', async () => {
  const code = 'raise ValueError("START " + "v" * 20000 + " THE END")';
  const run = await callTool('run_code', { context_id: ctx, code });
  assert.equal(run.isError, true);
  const error = structured<RunOutput>(run).error!;
  assert.equal(error.name, 'ValueError');
  assert.ok(Buffer.byteLength(error.traceback) < MAX + 400, `${Buffer.byteLength(error.traceback)} bytes`);
  assert.match(error.traceback, /Traceback[\s\S]*cut here[\s\S]*THE END/);
  const short = await callTool('run_code', { context_id: ctx, code: 'print("short")' });
  assert.equal(structured<RunOutput>(short).stdout, 'short\n');
  assert.ok(!short.content.some((c) => c.type === 'resource_link'));
});

test('a one-off run says the cut part is gone and how to keep it', async () => {
  const run = await callTool('run_code', { code: 'print("x" * 20000)' });
  assert.match(textOf(run), /the rest is gone with this one-off run: run in a context \(create_context\)/);
  assert.ok(Buffer.byteLength(structured<RunOutput>(run).stdout) < MAX + 400);
});

test('at the sandbox output cap (4 MiB) with the default limit the answer stays small', async () => {
  const wide = await servers.start();
  const other = new Client({ name: 'bounded-1x', version: '1.0.0' });
  await other.connect(new StreamableHTTPClientTransport(new URL(wide.url)));
  await other.listTools();
  const id = structured<{ context_id: string }>(
    (await other.callTool({ name: 'create_context', arguments: {} })) as CallToolResult,
  ).context_id;
  const run = (await other.callTool({ name: 'run_code', arguments: { context_id: id, code: 'print("y" * 5_000_000)' } })) as CallToolResult;
  const bytes = Buffer.byteLength(JSON.stringify(run));
  // 8.66 MB before: the same 4 MiB in the text block and in structuredContent.stdout.
  assert.ok(bytes < 100_000, `${bytes} bytes`);
  await other.close();
});

// A security review's finding: wait_run answered a held run's 4 MiB of output in full (8.4 MB, the
// same bytes in the text block and in structuredContent.stdout) where run_code answers 66 KB.
test('wait_run: a held run at the 4 MiB cap answers small, bounded and linked as run_code does', async () => {
  const wide = await servers.start();
  const other = new Client({ name: 'bounded-1x', version: '1.0.0' });
  await other.connect(new StreamableHTTPClientTransport(new URL(wide.url)));
  await other.listTools();
  const call = async (name: string, args: Record<string, unknown>) => (await other.callTool({ name, arguments: args })) as CallToolResult;
  const id = structured<{ context_id: string }>(await call('create_context', {})).context_id;
  const code = 'import time\nprint("FIRST", flush=True)\ntime.sleep(1.5)\nprint("y" * 5_000_000)\nprint("LAST")';
  const started = structured<{ status: string; run_id: string }>(await call('run_code', { context_id: id, code, wait_seconds: 0.5 }));
  assert.equal(started.status, 'running');
  const run = await call('wait_run', { run_id: started.run_id, wait_seconds: 30 });
  const bytes = Buffer.byteLength(JSON.stringify(run));
  assert.ok(bytes < 100_000, `${bytes} bytes`);
  assert.equal(structured<{ status: string }>(run).status, 'done');
  // The run printed past the sandbox's 4 MiB cap, which stopped it: the file holds what was kept, not all.
  assert.match(
    textOf(run),
    /cut here \(MCP_MAX_TEXT_BYTES=\d+\); what the sandbox kept before it stopped the run at its output limit is in \/home\/user\/outputs\/run-/,
  );
  const link = run.content.find((c) => c.type === 'resource_link') as { uri: string } | undefined;
  assert.ok(link, 'the full output is linked');
  const full = (await other.readResource({ uri: link.uri })).contents[0] as { text: string };
  assert.ok(full.text.length > 4_000_000, `${full.text.length} chars saved`);
  await other.close();
});

test('wait_run: a held one-off run says the cut part is gone; a running answer is bounded too', async () => {
  const code = 'import time\nprint("x" * 20000, flush=True)\ntime.sleep(1.5)\nprint("z" * 20000)';
  const started = await callTool('run_code', { code, wait_seconds: 0.5 });
  const first = structured<RunOutput & { status: string; run_id: string }>(started);
  assert.equal(first.status, 'running');
  assert.ok(Buffer.byteLength(first.stdout) < MAX + 400, `running run_code: ${Buffer.byteLength(first.stdout)} bytes`);
  assert.match(textOf(started), /the rest is gone with this one-off run/);
  const end = await callTool('wait_run', { run_id: first.run_id, wait_seconds: 30 });
  assert.ok(Buffer.byteLength(structured<RunOutput>(end).stdout) < MAX + 400);
  assert.match(textOf(end), /the rest is gone with this one-off run: run in a context \(create_context\)/);
  assert.ok(!end.content.some((c) => c.type === 'resource_link'));
});

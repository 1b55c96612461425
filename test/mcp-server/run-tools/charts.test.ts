/**
 * The MCP tools gain what the sandbox gained: create_context takes bash and r, and run_code's
 * results carry a matplotlib chart as structured data beside its image. Driven with the 1.x
 * MCP client after listTools, the path where it validates structuredContent against each
 * tool's outputSchema (a mismatch would throw instead of reaching the agent).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { mcpOnSandbox } from '../../support/mcp-harness.ts';

const servers = mcpOnSandbox();
let client: Client;

before(async () => {
  const mcp = await servers.start();
  client = new Client({ name: 'charts-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(mcp.url)));
  await client.listTools();
});
after(async () => {
  await client?.close();
});

const call = async (name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as CallToolResult;

describe('MCP tools with bash, R and charts', () => {
  test('run_code: a plotted figure comes back as an image and as a chart field of its result', async () => {
    const result = await call('run_code', {
      code: 'import matplotlib.pyplot as plt\nplt.bar(["a", "b"], [2, 3], label="n")\nplt.title("counts")\nplt.show()',
    });
    assert.notEqual(result.isError, true, JSON.stringify(result.content));
    assert.equal(result.content.filter((part) => part.type === 'image').length, 1, 'one image, the chart is not a second one');
    const [display] = (result.structuredContent as { results: { formats: string[]; chart?: any }[] }).results;
    assert.ok(display?.formats.includes('png'));
    assert.equal(display?.chart?.type, 'bar');
    assert.equal(display?.chart?.title, 'counts');
    assert.deepEqual(
      display?.chart?.elements.map((e: { label: string; value: number }) => [e.label, e.value]),
      [
        ['a', 2],
        ['b', 3],
      ],
    );
  });

  test('create_context accepts bash (its state persists) and r', async () => {
    const created = await call('create_context', { language: 'bash' });
    assert.notEqual(created.isError, true, JSON.stringify(created.content));
    const contextId = (created.structuredContent as { context_id: string }).context_id;
    await call('run_code', { context_id: contextId, code: 'cd /tmp && note=kept' });
    const again = await call('run_code', { context_id: contextId, code: 'echo "$PWD $note"' });
    assert.equal((again.structuredContent as { stdout: string }).stdout, '/tmp kept\n');
    const r = await call('create_context', { language: 'r' });
    assert.notEqual(r.isError, true, JSON.stringify(r.content));
    const rId = (r.structuredContent as { context_id: string }).context_id;
    const value = await call('run_code', { context_id: rId, code: 'mean(c(2, 4))' });
    assert.equal((value.structuredContent as { results: { text?: string }[] }).results[0]?.text, '[1] 3');
  });
});

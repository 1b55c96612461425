/**
 * A stopped context's id stays well-formed (it is signed) but brings nothing back: the
 * security review's attack (create → stop → file calls with the id, in rounds) against a
 * real MCP server process on a real sandbox, as root with disk quotas on. Every call gets
 * the clear "unknown or expired context" error, and the host holds nothing afterwards: no
 * mount, no loop device, no worker or kernel, no workspace.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CallToolResult, Client } from '@modelcontextprotocol/client';
import type { RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { eventually } from '../../support/eventually.ts';
import { holdings, isEmpty } from '../../support/host-leftovers.ts';
import { call, connect, type McpProcess, startMcp, startTestSandbox, structured, textOf } from '../../support/mcp-harness.ts';

const ROUNDS = 10;
let sandbox: RunningSandbox;
let mcp: McpProcess;
let client: Client;

before(async () => {
  sandbox = await startTestSandbox({ diskMb: 64 });
  mcp = await startMcp({ SANDBOX_URL: sandbox.url });
  client = await connect(mcp.url);
  await client.listTools(); // from here on the client checks every structuredContent against the output schemas
});

after(async () => {
  await client?.close();
  await mcp?.stop();
  await sandbox?.close();
});

function expired(result: CallToolResult, tool: string): void {
  assert.equal(result.isError, true, `${tool}: ${textOf(result)}`);
  assert.equal(structured<{ error: { kind: string } }>(result).error.kind, 'unknown_context', `${tool}: ${textOf(result)}`);
  assert.match(textOf(result), /unknown or expired context/, tool);
}

describe('a stopped context stays stopped', () => {
  test(`${ROUNDS} rounds of create → stop → every file tool, resources/read and run_code: each "unknown or expired context", nothing left on the host`, async () => {
    assert.ok(isEmpty(holdings(sandbox.workspaceRoot)), JSON.stringify(holdings(sandbox.workspaceRoot)));
    for (let round = 0; round < ROUNDS; round++) {
      const id = structured<{ context_id: string }>(await call(client, 'create_context')).context_id;
      const written = await call(client, 'write_file', { context_id: id, path: 'kept.txt', content: 'live' });
      assert.notEqual(written.isError, true, textOf(written));
      assert.notEqual((await call(client, 'stop_context', { context_id: id })).isError, true);

      expired(await call(client, 'write_file', { context_id: id, path: 'ghost.txt', content: 'x'.repeat(4096) }), 'write_file');
      expired(await call(client, 'list_files', { context_id: id }), 'list_files');
      expired(await call(client, 'read_file', { context_id: id, path: 'kept.txt' }), 'read_file');
      expired(await call(client, 'run_code', { context_id: id, code: 'open("ghost.txt", "w").write("x")' }), 'run_code');
      expired(await call(client, 'stop_context', { context_id: id }), 'stop_context');
      await assert.rejects(
        client.readResource({ uri: `sandbox://contexts/${encodeURIComponent(id)}/files/kept.txt` }),
        /unknown or expired context/,
        'resources/read',
      );
    }
    const clean = await eventually(() => isEmpty(holdings(sandbox.workspaceRoot)));
    assert.ok(clean, `left behind: ${JSON.stringify(holdings(sandbox.workspaceRoot))}`);
    assert.deepEqual(structured<{ contexts: unknown[] }>(await call(client, 'list_contexts')).contexts, []);
  });
});

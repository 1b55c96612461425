// Callers are tenants: two named static tokens against a real MCP server process and a
// real sandbox service, through the official client. Each sees and touches only its own
// contexts; another's context id is "unknown context" for every tool and for
// resources/read, and the per-tenant cap holds and names its number.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CallToolResult, Client } from '@modelcontextprotocol/client';
import type { RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { call, connect, startMcp, startTestSandbox, structured, textOf, type McpProcess } from '../../support/mcp-harness.ts';

const ALICE = 'alice-token-0123456789abcdef';
const BOB = 'bob-token-0123456789abcdefgh';
const CAP = 2;
let sandbox: RunningSandbox;
let mcp: McpProcess;
let alice: Client;
let bob: Client;

before(async () => {
  sandbox = await startTestSandbox();
  mcp = await startMcp({
    SANDBOX_URL: sandbox.url,
    MCP_AUTH_TOKEN: `alice:${ALICE},bob:${BOB}`,
    MCP_MAX_CONTEXTS_PER_TENANT: String(CAP),
  });
  alice = await connect(mcp.url, { authorization: `Bearer ${ALICE}` });
  bob = await connect(mcp.url, { authorization: `Bearer ${BOB}` });
});

after(async () => {
  await alice?.close();
  await bob?.close();
  await mcp?.stop();
  await sandbox?.close();
});

function ok(result: CallToolResult): CallToolResult {
  assert.notEqual(result.isError, true, textOf(result));
  return result;
}

function unknown(result: CallToolResult, id: string): void {
  assert.equal(result.isError, true, textOf(result));
  assert.equal(structured<{ error: { kind: string } }>(result).error.kind, 'unknown_context', textOf(result));
  assert.match(textOf(result), new RegExp(`unknown context "${id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`));
}

const listed = async (client: Client) =>
  structured<{ contexts: { context_id: string }[] }>(ok(await call(client, 'list_contexts'))).contexts.map((c) => c.context_id);

describe('tenants: two named static tokens', () => {
  test("B neither sees nor touches A's context; A keeps using it", async () => {
    const created = ok(await call(alice, 'create_context', { description: 'alice data' }));
    const id = structured<{ context_id: string }>(created).context_id;
    ok(await call(alice, 'run_code', { context_id: id, code: 'secret = 41' }));
    ok(await call(alice, 'write_file', { context_id: id, path: 'mine.txt', content: 'alice only' }));

    assert.deepEqual(await listed(alice), [id]);
    assert.deepEqual(await listed(bob), [], "B's list_contexts does not show A's context");

    unknown(await call(bob, 'run_code', { context_id: id, code: 'secret' }), id);
    unknown(await call(bob, 'stop_context', { context_id: id }), id);
    unknown(await call(bob, 'read_file', { context_id: id, path: 'mine.txt' }), id);
    unknown(await call(bob, 'write_file', { context_id: id, path: 'mine.txt', content: 'bob was here' }), id);
    unknown(await call(bob, 'list_files', { context_id: id }), id);
    await assert.rejects(bob.readResource({ uri: `sandbox://contexts/${encodeURIComponent(id)}/files/mine.txt` }), /unknown context/);

    // A's context is untouched: its state and its file are as A left them.
    const after = ok(await call(alice, 'run_code', { context_id: id, code: 'secret + 1' }));
    assert.match(textOf(after), /42/);
    assert.equal(textOf(ok(await call(alice, 'read_file', { context_id: id, path: 'mine.txt' }))), 'alice only');
    ok(await call(alice, 'stop_context', { context_id: id }));
  });

  test('the cap per tenant holds, names its number, and frees up when a context stops', async () => {
    const ids: string[] = [];
    for (let i = 0; i < CAP; i++) ids.push(structured<{ context_id: string }>(ok(await call(alice, 'create_context'))).context_id);
    const refused = await call(alice, 'create_context');
    assert.equal(refused.isError, true);
    assert.equal(structured<{ error: { kind: string } }>(refused).error.kind, 'too_many_contexts');
    assert.match(textOf(refused), new RegExp(`${CAP} live contexts.*MCP_MAX_CONTEXTS_PER_TENANT=${CAP}.*stop_context`));
    // Another tenant's share is its own.
    const bobs = structured<{ context_id: string }>(ok(await call(bob, 'create_context'))).context_id;
    ok(await call(alice, 'stop_context', { context_id: ids.pop()! }));
    ids.push(structured<{ context_id: string }>(ok(await call(alice, 'create_context'))).context_id);
    for (const id of ids) ok(await call(alice, 'stop_context', { context_id: id }));
    ok(await call(bob, 'stop_context', { context_id: bobs }));
  });

  test('logs name the tenant, never a token', async () => {
    ok(await call(bob, 'list_contexts'));
    const lines = mcp.logs();
    assert.ok(
      lines.some((line) => line.tenant === 'bob'),
      'a request line carries tenant "bob"',
    );
    assert.ok(!mcp.stderr().includes(ALICE) && !mcp.stderr().includes(BOB), 'no token in the logs');
  });
});

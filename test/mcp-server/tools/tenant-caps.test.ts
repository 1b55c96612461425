/**
 * The cap per tenant holds whatever the callers do at once: two named tenants (static
 * tokens) on two real MCP server processes sharing one real sandbox of 8 contexts, with
 * a cap of 3. Parallel create_context calls through both servers never make more than
 * 3; one-off run_code contexts count while they run; and a tenant at its cap leaves room
 * for the other tenant.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CallToolResult, Client } from '@modelcontextprotocol/client';
import type { RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { eventually } from '../../support/eventually.ts';
import { call, connect, type McpProcess, startMcp, startTestSandbox, structured, textOf } from '../../support/mcp-harness.ts';
import { request } from '../../support/sandbox-support.ts';

const TOKEN_A = 'tenant-a-token-0123456789abcdef';
const TOKEN_B = 'tenant-b-token-0123456789abcdef';
const CAP = 3;
const SANDBOX_MAX = 8;
let sandbox: RunningSandbox;
const servers: McpProcess[] = [];
const clients: Client[] = [];
/** Tenant a through each of the two servers, and tenant b through the first. */
let a1: Client;
let a2: Client;
let b: Client;

before(async () => {
  sandbox = await startTestSandbox({ maxContexts: SANDBOX_MAX });
  const env = { SANDBOX_URL: sandbox.url, MCP_AUTH_TOKEN: `a:${TOKEN_A},b:${TOKEN_B}`, MCP_MAX_CONTEXTS_PER_TENANT: String(CAP) };
  servers.push(...(await Promise.all([startMcp(env), startMcp(env)])));
  const open = async (server: McpProcess, token: string) => {
    const client = await connect(server.url, { authorization: `Bearer ${token}` });
    await client.listTools(); // the client now checks every structuredContent, refusals included
    clients.push(client);
    return client;
  };
  [a1, a2, b] = await Promise.all([open(servers[0]!, TOKEN_A), open(servers[1]!, TOKEN_A), open(servers[0]!, TOKEN_B)]);
});

after(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await Promise.all(servers.map((server) => server.stop()));
  await sandbox?.close();
});

const kindOf = (result: CallToolResult) => (result.isError ? structured<{ error: { kind: string } }>(result).error.kind : 'ok');
const idOf = (result: CallToolResult) => structured<{ context_id: string }>(result).context_id;

async function stopAll(client: Client, results: CallToolResult[]): Promise<void> {
  for (const result of results) if (!result.isError) await call(client, 'stop_context', { context_id: idOf(result) });
}

/** The sandbox's sessions with live contexts (one per context on this server). */
async function liveSessions(): Promise<string[]> {
  return (await request(sandbox.url, 'GET', '/sessions')).json as string[];
}

describe('the cap per tenant', () => {
  test(`8 parallel create_context calls through two servers under a cap of ${CAP} make exactly ${CAP}`, async () => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => call(i % 2 === 0 ? a1 : a2, 'create_context')));
    const kinds = results.map(kindOf);
    assert.equal(kinds.filter((kind) => kind === 'ok').length, CAP, results.map(textOf).join('\n'));
    assert.equal(kinds.filter((kind) => kind === 'too_many_contexts').length, 8 - CAP, results.map(textOf).join('\n'));
    const refusal = results.find((result) => result.isError)!;
    assert.match(textOf(refusal), new RegExp(`${CAP} live contexts.*MCP_MAX_CONTEXTS_PER_TENANT=${CAP}.*stop_context`));
    assert.equal((await liveSessions()).length, CAP, 'the sandbox holds what the tools reported');
    const listed = structured<{ contexts: unknown[] }>(await call(a2, 'list_contexts')).contexts;
    assert.equal(listed.length, CAP);
    await stopAll(a1, results);
    assert.deepEqual(await liveSessions(), []);
  });

  test('one-off run_code contexts count while they run, and a tenant at its cap leaves room for another', async () => {
    // Each run waits for a file the test puts into its workspace, so all of them run at once.
    const code = 'import os, time\nwhile not os.path.exists("go"):\n    time.sleep(0.05)\nprint("ran")';
    const settled: CallToolResult[] = [];
    const runs = Array.from({ length: 8 }, (_, i) =>
      call(i % 2 === 0 ? a1 : a2, 'run_code', { code, language: 'python' }).then((result) => {
        settled.push(result);
        return result;
      }),
    );
    try {
      const refusedAll = await eventually(() => settled.length === 8 - CAP, 120_000);
      assert.ok(refusedAll, `settled: ${settled.map(textOf).join('\n')}`);
      assert.ok(
        settled.every((result) => kindOf(result) === 'too_many_contexts'),
        settled.map(textOf).join('\n'),
      );
      assert.ok(await eventually(async () => (await liveSessions()).length === CAP, 60_000), 'the running ones hold their contexts');

      // a is at its cap with one-off runs alone: create_context is refused; b is not held back.
      assert.equal(kindOf(await call(a1, 'create_context')), 'too_many_contexts');
      const bs = await call(b, 'create_context');
      assert.equal(kindOf(bs), 'ok', textOf(bs));
      await call(b, 'stop_context', { context_id: idOf(bs) });
    } finally {
      for (const session of await liveSessions()) {
        const workspace = await sandbox.workspaceOf(session);
        if (workspace) writeFileSync(join(workspace, 'go'), '');
      }
    }
    const results = await Promise.all(runs);
    const ran = results.filter((result) => kindOf(result) === 'ok');
    assert.equal(ran.length, CAP, results.map(textOf).join('\n'));
    for (const result of ran) assert.match(textOf(result), /ran/);
    // The one-off contexts are gone with their runs: a has its full cap again.
    assert.ok(await eventually(async () => (await liveSessions()).length === 0));
    const again = await call(a2, 'create_context');
    assert.equal(kindOf(again), 'ok', textOf(again));
    await call(a2, 'stop_context', { context_id: idOf(again) });
  });
});

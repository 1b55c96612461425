// The proof of statelessness: two MCP server processes on one sandbox serve the same
// contexts interchangeably, and a restarted process still serves old ones.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { call, connect, mcpOnSandbox, SECRET, structured, textOf } from '../support/mcp-harness.ts';

const { start: mcp } = mcpOnSandbox();

type Listing = { contexts: { context_id: string; description: string; language: string; created_at: string }[] };

test('create on one process; run, list and stop on another', async () => {
  const [first, second] = await Promise.all([mcp(), mcp()]);
  const a = await connect(first.url);
  const b = await connect(second.url);

  const created = structured<{ context_id: string; created_at: string }>(
    await call(a, 'create_context', { language: 'python', description: 'shared work' }),
  );
  const id = created.context_id;
  assert.equal((await call(a, 'run_code', { context_id: id, code: 'total = 40' })).isError, false);

  const run = await call(b, 'run_code', { context_id: id, code: 'total + 2' });
  assert.equal(run.isError, false, textOf(run));
  assert.equal(
    structured<{ results: { text?: string }[] }>(run).results[0]?.text,
    '42',
    "the second process sees the first one's variable",
  );

  const listA = structured<Listing>(await call(a, 'list_contexts')).contexts.find((c) => c.context_id === id);
  const listB = structured<Listing>(await call(b, 'list_contexts')).contexts.find((c) => c.context_id === id);
  assert.ok(listB, 'the second process lists the context under the same id');
  assert.deepEqual(listB, listA, 'both processes show the same id, language, description and created_at');
  assert.equal(listB.description, 'shared work');
  assert.equal(listB.created_at, created.created_at);

  assert.equal((await call(b, 'stop_context', { context_id: id })).isError, undefined);
  const gone = await call(a, 'run_code', { context_id: id, code: '1' });
  assert.equal(gone.isError, true);
  assert.match(textOf(gone), /unknown or expired context/);
  await a.close();
  await b.close();
});

test('a restarted MCP process still serves old contexts; another secret refuses them', async () => {
  const first = await mcp();
  const a = await connect(first.url);
  const id = structured<{ context_id: string }>(await call(a, 'create_context', {})).context_id;
  await call(a, 'run_code', { context_id: id, code: 'kept = "still here"' });
  await a.close();
  await first.stop();

  const restarted = await mcp();
  const b = await connect(restarted.url);
  const run = await call(b, 'run_code', { context_id: id, code: 'print(kept)' });
  assert.equal(structured<{ stdout: string }>(run).stdout, 'still here\n');

  const foreign = await mcp({ CONTEXT_SECRET: `${SECRET}-other` });
  const c = await connect(foreign.url);
  const refused = await call(c, 'run_code', { context_id: id, code: 'kept' });
  assert.equal(refused.isError, true);
  assert.match(textOf(refused), /^unknown context/);

  await call(b, 'stop_context', { context_id: id });
  await b.close();
  await c.close();
});

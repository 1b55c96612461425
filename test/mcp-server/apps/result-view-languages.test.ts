// The results viewer's tables from R and JavaScript contexts, against a real MCP
// server process and a real sandbox with IRkernel and Deno's kernel: R's data frames and
// matrices reach the view as pandas' DataFrames do (columns, row count, first rows, a handle to
// page and sort a long one, the user's random stream untouched); a JavaScript DataFrame reaches
// it as Deno's kernel shows one (its data resource of the first rows), saying there may be more.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CallToolResult, Client } from '@modelcontextprotocol/client';
import { VIEW_META_KEY, type ViewTable } from '../../../src/mcp-server/apps/result-tables.ts';
import type { RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { call, connect, startMcp, startTestSandbox, structured, textOf, type McpProcess } from '../../support/mcp-harness.ts';

const TOKEN = 'alice-token-0123456789abcdef';
let sandbox: RunningSandbox;
let mcp: McpProcess;
let client: Client;

before(async () => {
  sandbox = await startTestSandbox();
  mcp = await startMcp({ SANDBOX_URL: sandbox.url, MCP_AUTH_TOKEN: TOKEN });
  client = await connect(mcp.url, { authorization: `Bearer ${TOKEN}` });
});

after(async () => {
  await client?.close();
  await mcp?.stop();
  await sandbox?.close();
});

const tablesOf = (result: CallToolResult): ViewTable[] =>
  ((result._meta?.[VIEW_META_KEY] as { tables?: ViewTable[] } | undefined)?.tables ?? []) as ViewTable[];

async function contextOf(language: string): Promise<string> {
  return structured<{ context_id: string }>(await call(client, 'create_context', { language })).context_id;
}

async function run(context_id: string, code: string): Promise<CallToolResult> {
  const result = await call(client, 'run_code', { context_id, code });
  assert.notEqual(result.isError, true, textOf(result));
  return result;
}

describe('R', () => {
  let context: string;
  before(async () => {
    context = await contextOf('r');
  });

  test("a data frame's columns keep R's classes, its cells JSON's types (NA, Inf as empty cells), row names a column", async () => {
    const shown = await run(
      context,
      'data.frame(x = 1:3, y = c("a", NA, "c"), d = as.Date("2024-01-01") + 0:2, f = factor(c("u", "v", "u")), n = c(1.5, NA, Inf))',
    );
    const [table] = tablesOf(shown);
    assert.ok(table, 'the view has the table');
    assert.deepEqual(
      table.columns.map((c) => `${c.name}:${c.dtype}`),
      ['x:integer', 'y:character', 'd:Date', 'f:factor', 'n:numeric'],
    );
    assert.equal(table.row_count, 3);
    assert.deepEqual(table.rows, [
      [1, 'a', '2024-01-01', 'u', 1.5],
      [2, null, '2024-01-02', 'v', null],
      [3, 'c', '2024-01-03', 'u', null],
    ]);
    assert.equal(table.result_handle, undefined, 'all of it is shown: nothing to page');

    const [cars] = tablesOf(await run(context, 'head(mtcars, 2)'));
    assert.deepEqual(cars?.columns.slice(0, 2), [
      { name: 'row', dtype: 'character' },
      { name: 'mpg', dtype: 'numeric' },
    ]);
    assert.deepEqual(
      cars?.rows.map((row) => row[0]),
      ['Mazda RX4', 'Mazda RX4 Wag'],
    );

    const [matrix] = tablesOf(await run(context, 'matrix(1:4, 2)'));
    assert.deepEqual(matrix?.rows, [
      [1, 3],
      [2, 4],
    ]);
  });

  test('a 100,000-row data frame: the first 50 rows and a handle; result_page pages and sorts all of it', async () => {
    await run(context, 'big <- data.frame(i = 1:100000, s = rep(c("q", "p"), 50000), v = (1:100000 * 7919) %% 100003)');
    const shown = await run(context, 'big');
    assert.ok(Buffer.byteLength(textOf(shown)) <= 4096, `the model reads ${Buffer.byteLength(textOf(shown))} bytes`);
    const [table] = tablesOf(shown);
    assert.equal(table?.row_count, 100_000);
    assert.equal(table?.rows.length, 50);
    assert.match(table?.result_handle ?? '', /^res_/);

    const page = structured<{ rows: unknown[][]; row_count: number }>(
      await call(client, 'result_page', { handle: table!.result_handle, offset: 99_998, limit: 5 }),
    );
    assert.equal(page.row_count, 100_000);
    assert.deepEqual(page.rows, [
      [99_999, 'q', (99_999 * 7919) % 100_003],
      [100_000, 'p', (100_000 * 7919) % 100_003],
    ]);
    const top = structured<{ rows: unknown[][] }>(
      await call(client, 'result_page', { handle: table!.result_handle, limit: 3, sort: { column: 'v', descending: true } }),
    );
    assert.deepEqual(
      top.rows.map((row) => row[2]),
      [100_002, 100_001, 100_000],
    );
  });

  test("showing a table leaves the user's random numbers as set.seed made them", async () => {
    const plain = textOf(await run(context, 'set.seed(7); runif(1)'));
    const withTable = textOf(await run(context, 'set.seed(7); invisible(print(0)); big; runif(1)'));
    assert.equal(withTable.match(/\[1\] 0\.\d+/g)?.at(-1), plain.match(/\[1\] 0\.\d+/g)?.at(-1));
  });
});

describe('JavaScript', () => {
  test("a DataFrame as Deno's kernel shows one (Polars' shape): its rows in the view, and that there may be more", async () => {
    const context = await contextOf('javascript');
    // What Deno's kernel recognises as a DataFrame (Polars' duck type: schema, head, toRecords).
    const code = `const rows = Array.from({ length: 120 }, (_, i) => ({ id: i, name: "n" + i }));
const dtype = (name) => ({ toJSON: () => ({ DataType: name }) });
({ schema: { id: dtype("Int64"), name: dtype("Utf8") }, head: (n) => ({ toRecords: () => rows.slice(0, n) }), toRecords: () => rows })`;
    const [table] = tablesOf(await run(context, code));
    assert.ok(table, 'the view has the table');
    assert.deepEqual(table.columns, [
      { name: 'id', dtype: 'integer' },
      { name: 'name', dtype: 'string' },
    ]);
    assert.equal(table.rows.length, 50);
    assert.deepEqual(table.rows[49], [49, 'n49']);
    assert.match(table.note ?? '', /only these 50 rows/);
    assert.equal(table.result_handle, undefined);

    const [small] = tablesOf(
      await run(
        context,
        `({ schema: { id: dtype("Int64") }, head: () => ({ toRecords: () => [{ id: 1 }] }), toRecords: () => [{ id: 1 }] })`,
      ),
    );
    assert.deepEqual(small?.rows, [[1]]);
    assert.equal(small?.note, undefined, 'fewer rows than Deno sends: all of them');
  });
});

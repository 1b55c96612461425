// The results viewer (MCP Apps) against a real MCP server process and a real sandbox
// service: the view resource and its links in tools/list, a 100,000-row DataFrame whose answer
// stays small for the model while the view pages and sorts it through result_page, the refusal
// of a handle from another tenant, an altered one and one of a stopped context; and the view
// itself in headless Chromium with ext-apps' own AppBridge as the host, which also takes the
// screenshot in docs/.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import type { CallToolResult, Client } from '@modelcontextprotocol/client';
import { RESOURCE_MIME_TYPE, RESOURCE_URI_META_KEY } from '@modelcontextprotocol/ext-apps/app-bridge';
import type { RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { VIEW_BUDGET_BYTES, VIEW_URI } from '../../../src/mcp-server/apps/result-view.ts';
import { VIEW_META_KEY, type ViewTable } from '../../../src/mcp-server/apps/result-tables.ts';
import { call, connect, ROOT, startMcp, startTestSandbox, structured, textOf, type McpProcess } from '../../support/mcp-harness.ts';
import { openAppHost, type AppHost } from '../../support/app-host.ts';

const ALICE = 'alice-token-0123456789abcdef';
const BOB = 'bob-token-0123456789abcdefgh';
let sandbox: RunningSandbox;
let mcp: McpProcess;
let alice: Client;
let bob: Client;
let contextId: string;

/** 100,000 rows, deterministic: `x` a permutation-like spread of [0, 1), `n` with empty cells. */
export const FRAME_CODE = `import pandas as pd, numpy as np
rows = 100_000
ids = np.arange(rows)
df = pd.DataFrame({
    "id": ids,
    "x": (ids * 7919 % 100_003) / 100_003,
    "city": np.array(["Hangzhou", "Beijing", "Shenzhen", "Chengdu"])[ids % 4],
    "n": np.where(ids % 10 == 0, np.nan, ids % 97),
    "when": pd.Timestamp("2026-01-01") + pd.to_timedelta(ids, unit="min"),
})`;

const CHART_CODE = `import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(5, 2.2), dpi=80)
by_city = df.groupby("city")["x"].mean()
ax.bar(by_city.index, by_city.values)
ax.set_title("mean x by city")
plt.show()
df`;

before(async () => {
  sandbox = await startTestSandbox();
  mcp = await startMcp({ SANDBOX_URL: sandbox.url, MCP_AUTH_TOKEN: `alice:${ALICE},bob:${BOB}` });
  alice = await connect(mcp.url, { authorization: `Bearer ${ALICE}` });
  bob = await connect(mcp.url, { authorization: `Bearer ${BOB}` });
  await alice.listTools();
  contextId = structured<{ context_id: string }>(await call(alice, 'create_context', { language: 'python' })).context_id;
  const made = await call(alice, 'run_code', { context_id: contextId, code: FRAME_CODE });
  assert.notEqual(made.isError, true, textOf(made));
});

after(async () => {
  await alice?.close();
  await bob?.close();
  await mcp?.stop();
  await sandbox?.close();
});

function tablesOf(result: CallToolResult): ViewTable[] {
  return ((result._meta?.[VIEW_META_KEY] as { tables?: ViewTable[] } | undefined)?.tables ?? []) as ViewTable[];
}

function failureKind(result: CallToolResult): string | undefined {
  return result.isError ? (result.structuredContent as { error?: { kind?: string } })?.error?.kind : undefined;
}

describe('the view and its links', () => {
  test('run_code and wait_run name the view in _meta.ui (and the flat key); result_page is app-only', async () => {
    const { tools } = await alice.listTools();
    const byName = new Map(tools.map((tool) => [tool.name, tool]));
    for (const name of ['run_code', 'wait_run']) {
      const meta = byName.get(name)?._meta as Record<string, unknown> | undefined;
      assert.deepEqual(meta?.ui, { resourceUri: VIEW_URI }, name);
      assert.equal(meta?.[RESOURCE_URI_META_KEY], VIEW_URI, name);
    }
    assert.deepEqual((byName.get('result_page')?._meta as { ui?: unknown })?.ui, { visibility: ['app'] });
  });

  test('the view is listed and reads as one self-contained document of the MCP Apps type, within its budget', async () => {
    const { resources } = await alice.listResources();
    assert.deepEqual(
      resources.filter((r) => r.uri.startsWith('ui://')).map((r) => [r.uri, r.mimeType]),
      [[VIEW_URI, RESOURCE_MIME_TYPE]],
    );
    const { contents } = await alice.readResource({ uri: VIEW_URI });
    assert.equal(contents.length, 1);
    const html = (contents[0] as { text: string }).text;
    assert.equal(contents[0]!.mimeType, RESOURCE_MIME_TYPE);
    assert.deepEqual((contents[0]!._meta as { ui?: unknown })?.ui, { csp: {}, prefersBorder: true });
    const size = Buffer.byteLength(html);
    assert.ok(size <= VIEW_BUDGET_BYTES, `the view is ${size} bytes, over its budget of ${VIEW_BUDGET_BYTES}`);
    assert.match(html, /^<!doctype html>/i);
    // Nothing fetched from anywhere: no URLs, no external scripts, styles, fonts or imports.
    assert.doesNotMatch(html, /https?:\/\/|\/\/cdn|<link\b|<script\s+src|@import|@font-face|url\(/i);
  });
});

describe('a 100,000-row DataFrame', () => {
  let shown: CallToolResult;
  let table: ViewTable;
  before(async () => {
    shown = await call(alice, 'run_code', { context_id: contextId, code: 'df' });
    table = tablesOf(shown)[0]!;
  });

  test('runs (it overran the 4 MiB output cap before), and the model reads under 4 KB', () => {
    assert.notEqual(shown.isError, true, textOf(shown));
    const text = textOf(shown);
    assert.match(text, /\[100000 rows x 5 columns\]/);
    assert.ok(Buffer.byteLength(text) <= 4096, `the text block is ${Buffer.byteLength(text)} bytes`);
    // What a client that hands the model structuredContent gives it: pandas' short text and html, no rows beyond.
    const structuredSize = Buffer.byteLength(JSON.stringify(shown.structuredContent));
    assert.ok(structuredSize <= 8192, `structuredContent is ${structuredSize} bytes`);
    assert.doesNotMatch(JSON.stringify(shown.structuredContent), /res_/);
  });

  test("the view's data: schema, row count, the first 50 rows and a handle", () => {
    assert.deepEqual(
      table.columns.map((c) => `${c.name}:${c.dtype}`),
      ['id:int64', 'x:float64', 'city:object', 'n:float64', 'when:datetime64[ns]'],
    );
    assert.equal(table.row_count, 100_000);
    assert.equal(table.rows.length, 50);
    const [id, x, ...rest] = table.rows[1]!;
    assert.equal(id, 1);
    assert.ok(Math.abs((x as number) - 7919 / 100_003) < 1e-15, `x is ${x}: numbers keep 15 significant digits`);
    assert.deepEqual(rest, ['Beijing', 1, '2026-01-01T00:01:00'], 'times in ISO 8601');
    assert.equal(table.rows[0]![3], null, 'NaN is an empty cell');
    assert.match(table.result_handle ?? '', /^res_/);
  });

  test('result_page pages in order and sorts the whole table, empty cells last', async () => {
    const page = structured<{ rows: unknown[][]; row_count: number; offset: number }>(
      await call(alice, 'result_page', { handle: table.result_handle, offset: 99_990, limit: 20 }),
    );
    assert.equal(page.row_count, 100_000);
    assert.deepEqual(
      page.rows.map((row) => row[0]),
      Array.from({ length: 10 }, (_, i) => 99_990 + i),
    );

    const top = structured<{ rows: unknown[][] }>(
      await call(alice, 'result_page', { handle: table.result_handle, limit: 5, sort: { column: 'x', descending: true } }),
    );
    const xs = top.rows.map((row) => row[1] as number);
    assert.deepEqual(
      xs,
      [...xs].sort((a, b) => b - a),
    );
    assert.ok(xs[0]! > 0.9999, `the largest x first, got ${xs[0]}`);

    const lastByN = structured<{ rows: unknown[][] }>(
      await call(alice, 'result_page', { handle: table.result_handle, offset: 99_999, limit: 1, sort: { column: 'n' } }),
    );
    assert.equal(lastByN.rows[0]![3], null, 'empty cells sort last');
    const byCity = structured<{ rows: unknown[][] }>(
      await call(alice, 'result_page', { handle: table.result_handle, limit: 2, sort: { column: 'city' } }),
    );
    assert.deepEqual(
      byCity.rows.map((row) => [row[0], row[2]]),
      [
        [1, 'Beijing'],
        [5, 'Beijing'],
      ],
      'stable: equal cells keep the run order',
    );

    const unknownColumn = await call(alice, 'result_page', { handle: table.result_handle, sort: { column: 'nope' } });
    assert.equal(failureKind(unknownColumn), 'invalid_arguments');
    assert.match(textOf(unknownColumn), /no column "nope".*id, x, city, n, when/);
  });

  test("another tenant's handle, an altered one and a context id are refused, naming why", async () => {
    const handle = table.result_handle!;
    const fromBob = await call(bob, 'result_page', { handle });
    assert.equal(failureKind(fromBob), 'unknown_result', textOf(fromBob));
    assert.match(textOf(fromBob), /unknown result "res_/);

    const flip = handle.at(-3) === 'A' ? 'B' : 'A';
    const altered = await call(alice, 'result_page', { handle: `${handle.slice(0, -3)}${flip}${handle.slice(-2)}` });
    assert.equal(failureKind(altered), 'unknown_result');
    const asContext = await call(alice, 'result_page', { handle: contextId });
    assert.equal(failureKind(asContext), 'unknown_result');
    // Nor does a handle pass for a context id.
    const asId = await call(alice, 'run_code', { context_id: `ctx_${handle.slice(4)}`, code: '1' });
    assert.equal(failureKind(asId), 'unknown_context');
  });

  test('wait_run collects a held run that ends in the table, with its viewer data and a handle', async () => {
    const started = await call(alice, 'run_code', { context_id: contextId, code: 'import time\ntime.sleep(3)\ndf', wait_seconds: 1 });
    const { status, run_id } = structured<{ status: string; run_id: string }>(started);
    assert.equal(status, 'running', textOf(started));
    const ended = await call(alice, 'wait_run', { run_id, wait_seconds: 30 });
    assert.equal(structured<{ status: string }>(ended).status, 'done', textOf(ended));
    const [held] = tablesOf(ended);
    assert.equal(held?.row_count, 100_000);
    const page = structured<{ rows: unknown[][] }>(await call(alice, 'result_page', { handle: held?.result_handle, offset: 7, limit: 1 }));
    assert.equal(page.rows[0]![0], 7);
  });

  test("a one-off run's table shows its first rows and says why there is no more", async () => {
    const once = await call(alice, 'run_code', { code: `${FRAME_CODE}\ndf` });
    assert.notEqual(once.isError, true, textOf(once));
    const [oneOff] = tablesOf(once);
    assert.equal(oneOff?.row_count, 100_000);
    assert.equal(oneOff?.result_handle, undefined);
    assert.match(oneOff?.note ?? '', /one-off run/);
  });
});

describe('the view in Chromium, with the ext-apps host bridge', () => {
  let host: AppHost;
  let html: string;
  before(async () => {
    html = ((await alice.readResource({ uri: VIEW_URI })).contents[0] as { text: string }).text;
    host = await openAppHost((params) => alice.callTool(params));
  });
  after(async () => {
    await host?.close();
  });

  test('renders the first page at once, pages and sorts through result_page, shows the chart; screenshot into docs/', async () => {
    const result = await call(alice, 'run_code', { context_id: contextId, code: CHART_CODE });
    assert.notEqual(result.isError, true, textOf(result));
    await host.load(html);
    await host.showResult(result, { context_id: contextId, code: CHART_CODE });
    const rows = host.view.locator('section[data-table="0"] tbody tr');
    const info = host.view.locator('section[data-table="0"] .pager span');
    await rows.first().waitFor();
    assert.equal(await rows.count(), 50);
    assert.equal(await info.textContent(), 'rows 1–50 of 100,000');
    assert.equal(await rows.first().locator('td').nth(1).textContent(), '0');
    assert.equal(host.calls.length, 0, 'the first page came with the result');

    await host.view.getByRole('button', { name: 'Next ›' }).click();
    await host.view.getByText('rows 51–100 of 100,000').waitFor();
    assert.equal(await rows.first().locator('td').nth(1).textContent(), '50');
    assert.deepEqual(host.calls.at(-1), {
      name: 'result_page',
      arguments: { handle: tablesOf(result)[0]!.result_handle, offset: 50, limit: 50 },
    });

    const xHeader = host.view.locator('th[data-column="x"]');
    await xHeader.click();
    await host.view.locator('th[data-column="x"][aria-sort="ascending"]').waitFor();
    await xHeader.click();
    await host.view.locator('th[data-column="x"][aria-sort="descending"]').waitFor();
    await info.filter({ hasText: 'rows 1–50 of 100,000' }).waitFor();
    const shownX = (await rows.locator('td:nth-child(3)').allTextContents()).map(Number);
    assert.equal(shownX.length, 50);
    assert.deepEqual(
      shownX,
      [...shownX].sort((a, b) => b - a),
    );
    assert.ok(shownX[0]! > 0.9999);
    assert.deepEqual(host.calls.at(-1)?.arguments?.sort, { column: 'x', descending: true });

    const chart = host.view.locator('img[alt="chart 1"]');
    await chart.waitFor();
    assert.ok(((await chart.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)) as number) > 100);
    assert.match((await host.view.locator('summary').first().textContent()) ?? '', /Chart data \(bar: mean x by city, 4 elements\)/);

    const png = await host.page.locator('#view').screenshot({ type: 'png' });
    assert.ok(png.byteLength < 200_000, `screenshot is ${png.byteLength} bytes`);
    await writeFile(`${ROOT}/docs/result-view.png`, png);
  });

  test('a refused page shows the reason in the view', async () => {
    const result = await call(alice, 'run_code', { context_id: contextId, code: 'df' });
    const forged = structuredClone(result);
    const table = tablesOf(forged)[0]!;
    table.result_handle = `${table.result_handle!.slice(0, -2)}zz`;
    await host.load(html);
    await host.showResult(forged);
    await host.view.getByRole('button', { name: 'Next ›' }).click();
    await host.view
      .locator('.pager span.bad')
      .filter({ hasText: /unknown result/ })
      .waitFor();
  });
});

describe('a saved table that code in the context replaced', () => {
  test('is refused with what is wrong, and the server goes on', async () => {
    const shown = await call(alice, 'run_code', { context_id: contextId, code: 'import pandas as pd\npd.DataFrame({"a": range(80)})' });
    const { result_handle } = tablesOf(shown)[0]!;
    // The handle does not show its file; the newest table in the folder is this one.
    const overwrite = await call(alice, 'run_code', {
      context_id: contextId,
      code: 'import os, glob\nnewest = max(glob.glob(os.path.expanduser("~/.results/*.json.gz")), key=os.path.getmtime)\nopen(newest, "wb").write(b"not gzip")',
    });
    assert.notEqual(overwrite.isError, true, textOf(overwrite));
    const broken = await call(alice, 'result_page', { handle: result_handle });
    assert.equal(failureKind(broken), 'internal', textOf(broken));
    assert.match(textOf(broken), /the saved table of "res_.*" cannot be read/);
    const after = await call(alice, 'result_page', {
      handle: tablesOf(await call(alice, 'run_code', { context_id: contextId, code: 'df' }))[0]!.result_handle,
      offset: 100_000,
    });
    assert.equal(textOf(after), 'no rows from offset 100000: the table has 100000');
  });
});

describe('long cells', () => {
  test("are cut for the view, in the result's _meta and in pages: the view's data stays small", async () => {
    const shown = await call(alice, 'run_code', {
      context_id: contextId,
      code: 'import pandas as pd\nwide = pd.DataFrame({"k": range(60), "s": ["x" * 20_000] * 60})\nwide',
    });
    assert.notEqual(shown.isError, true, textOf(shown));
    const [table] = tablesOf(shown);
    const meta = Buffer.byteLength(JSON.stringify(shown._meta));
    assert.ok(meta < 100_000, `the view's data is ${meta} bytes`);
    const cell = table!.rows[0]![1] as string;
    assert.ok(cell.length <= 1001 && cell.endsWith('…'), `a cell of ${cell.length} characters`);
    const page = structured<{ rows: unknown[][] }>(
      await call(alice, 'result_page', { handle: table!.result_handle, offset: 50, limit: 10 }),
    );
    assert.equal(page.rows.length, 10);
    assert.ok(
      page.rows.every((row) => (row[1] as string).length <= 1001),
      'cells of a page are cut too',
    );
  });
});

describe('a stopped context', () => {
  test('its handles are refused: the table went with it', async () => {
    const id = structured<{ context_id: string }>(await call(alice, 'create_context', { language: 'python' })).context_id;
    const shown = await call(alice, 'run_code', { context_id: id, code: 'import pandas as pd\npd.DataFrame({"a": range(500)})' });
    const handle = tablesOf(shown)[0]?.result_handle;
    assert.match(handle ?? '', /^res_/, textOf(shown));
    assert.equal(structured<{ rows: unknown[][] }>(await call(alice, 'result_page', { handle, limit: 3 })).rows.length, 3);
    await call(alice, 'stop_context', { context_id: id });
    const gone = await call(alice, 'result_page', { handle });
    assert.equal(failureKind(gone), 'unknown_result', textOf(gone));
    assert.match(textOf(gone), /stopped/);
  });
});

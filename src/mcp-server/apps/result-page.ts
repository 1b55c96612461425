/**
 * result_page: a page of rows of a table the sandbox saved (result-handles.ts), sorted on
 * request, for the viewer (result-view.ts) to call through the host. App-only in MCP Apps'
 * terms (`_meta.ui.visibility: ["app"]`): hosts that render views keep it from the model;
 * clients without the extension list it like any tool, and calling it reads only what the
 * caller's own run saved.
 *
 * The table is read whole from the workspace for each page (no state here between calls)
 * and sorted here, not in the kernel, so paging never waits behind a run in the context.
 */
import { z } from 'zod';
import { WORKSPACE_DIR } from '../../protocol/sandbox-api.ts';
import { MAX_ID_LENGTH } from '../context-ids/context-id.ts';
import { readAll } from '../file-tools/workspace-files.ts';
import { Refusal } from '../refusal.ts';
import { defineTool } from '../tools/tool-definition.ts';
import { failureOf, NOT_ISSUED_HERE, toolFailure } from '../tools/tool-failure.ts';
import { decodeResultHandle } from './result-handles.ts';
import { MAX_CELL_CHARS, viewCell } from './result-tables.ts';

/** Rows one call returns at most. */
export const MAX_PAGE_ROWS = 500;
const DEFAULT_PAGE_ROWS = 100;
/** A saved table larger than this is refused rather than read into the function's memory (the prelude writes at most 5M cells). */
export const MAX_TABLE_FILE_BYTES = 96 * 1024 * 1024;

const Cell = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const Column = z.object({ name: z.string(), dtype: z.string() });

export const resultPage = defineTool({
  name: 'result_page',
  title: 'Page through a saved result table',
  description:
    'For the result viewer (MCP Apps): returns rows offset..offset+limit of a table a run_code result saved, by the result_handle in that ' +
    "result's viewer data, optionally sorted by a column. Not needed to answer questions: run code on the DataFrame instead.",
  inputSchema: z.object({
    handle: z.string().min(1).max(MAX_ID_LENGTH).describe('The result_handle of a table, from the viewer data of a run_code result.'),
    offset: z.number().int().nonnegative().optional().describe('The first row to return, counted from 0 in the sorted order (default 0).'),
    limit: z
      .number()
      .int()
      .positive()
      .max(MAX_PAGE_ROWS)
      .optional()
      .describe(`How many rows to return (default ${DEFAULT_PAGE_ROWS}, at most ${MAX_PAGE_ROWS}).`),
    sort: z
      .object({
        column: z.string().describe('The name of the column to sort by'),
        descending: z.boolean().optional().describe('Largest first (default false); empty cells come last either way'),
      })
      .optional()
      .describe('Sort the whole table by a column before taking the page (default: the order the run produced).'),
  }),
  outputSchema: z.object({
    columns: z.array(Column),
    row_count: z.number().int().describe('Rows in the saved table'),
    offset: z.number().int(),
    rows: z
      .array(z.array(Cell))
      .describe(
        `The page: one array of cells per row, in the order of columns; text longer than ${MAX_CELL_CHARS} characters cut with "…"`,
      ),
  }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  _meta: { ui: { visibility: ['app'] } },
  async handler({ handle, offset = 0, limit = DEFAULT_PAGE_ROWS, sort }, deps, call) {
    const address = decodeResultHandle(deps, handle);
    if (!address) return unknownResult(handle, NOT_ISSUED_HERE);
    let table: SavedTable;
    try {
      // The context must still be live: a stopped context's tables are gone with it, even where its workspace stays.
      const [contexts, bytes] = await Promise.all([
        deps.sandbox.listContexts(address.session),
        deps.sandbox
          .downloadFile(address.session, `${WORKSPACE_DIR}/${address.file}`, call.signal)
          // Unzipped as it arrives; the cap counts the unzipped bytes.
          .then((download) => readAll(download.body.pipeThrough(new DecompressionStream('gzip')), MAX_TABLE_FILE_BYTES))
          // Not gzip, or larger than the cap: the file is not what the prelude writes (code in the context can write anything there).
          .catch((error: unknown) => {
            throw error instanceof Refusal ? error : unreadableTable(handle, error instanceof Error ? error.message : String(error));
          }),
      ]);
      if (!contexts.some((context) => context.id === address.sandboxContextId)) {
        return unknownResult(handle, 'its context was stopped, so the table is gone');
      }
      table = parseSavedTable(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'), handle);
    } catch (error) {
      if (error instanceof Refusal && (error.kind === 'sandbox_not_found' || error.kind === 'sandbox_file_not_found')) {
        return unknownResult(handle, 'its context was stopped or its session ended, or the table was replaced by newer ones');
      }
      return failureOf(error);
    }
    let page: ArrayLike<number>;
    const end = Math.min(offset + limit, table.rowCount);
    if (sort) {
      const index = table.columns.findIndex((column) => column.name === sort.column);
      if (index < 0) {
        return toolFailure(
          'invalid_arguments',
          `no column "${sort.column}" to sort by; the table has: ${table.columns.map((c) => c.name).join(', ')}`,
        );
      }
      const cells = table.data[index]!;
      const descending = sort.descending ?? false;
      page = numericPage(cells, descending, offset, limit) ?? sortedOrder(cells, descending).slice(offset, end);
    } else {
      page = Array.from({ length: Math.max(0, end - offset) }, (_, i) => offset + i);
    }
    const rows = Array.from(page, (row) => table.data.map((column) => viewCell(column[row])));
    const structured = { columns: table.columns, row_count: table.rowCount, offset, rows };
    return {
      content: [
        {
          type: 'text',
          text:
            rows.length === 0
              ? `no rows from offset ${offset}: the table has ${table.rowCount}`
              : `rows ${offset}..${offset + rows.length - 1} of ${table.rowCount}${sort ? ` sorted by ${sort.column}` : ''}`,
        },
      ],
      structuredContent: structured,
    };
  },
});

function unknownResult(handle: string, why: string) {
  return toolFailure('unknown_result', `unknown result "${handle}": ${why}. Run the code again for a new one.`);
}

interface SavedTable {
  columns: z.infer<typeof Column>[];
  /** Column-major: data[column][row]. */
  data: unknown[][];
  rowCount: number;
}

/** A saved table that is not what the prelude writes: code in the context can write anything there. */
function unreadableTable(handle: string, why: string): Refusal {
  return new Refusal('internal', `the saved table of "${handle}" cannot be read: ${why}`);
}

/** The prelude's file: `{columns: [{name, dtype}], data: [[cells of column 0], …]}`; checked by shape, not cell by cell. */
function parseSavedTable(text: string, handle: string): SavedTable {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw unreadableTable(handle, 'not JSON');
  }
  const { columns, data } = (parsed ?? {}) as { columns?: unknown; data?: unknown };
  const checked = z.array(Column).safeParse(columns);
  if (!checked.success || !Array.isArray(data) || data.length !== checked.data.length || !data.every(Array.isArray)) {
    throw unreadableTable(handle, 'not the shape the sandbox writes');
  }
  const rowCount = data.length === 0 ? 0 : (data[0] as unknown[]).length;
  if (!(data as unknown[][]).every((column) => column.length === rowCount)) throw unreadableTable(handle, 'columns of different lengths');
  return { columns: checked.data, data: data as unknown[][], rowCount };
}

/** Row numbers in the order of a column's cells: numbers, then booleans, then strings, each by value; empty cells last. Stable. */
export function sortedOrder(cells: readonly unknown[], descending: boolean): number[] {
  const rank = (value: unknown) => (typeof value === 'number' ? 0 : typeof value === 'boolean' ? 1 : typeof value === 'string' ? 2 : 3);
  const direction = descending ? -1 : 1;
  const order = Array.from(cells, (_, i) => i);
  return order.sort((a, b) => {
    const x = cells[a];
    const y = cells[b];
    const rx = rank(x);
    const ry = rank(y);
    if (rx !== ry) return rx === 3 ? 1 : ry === 3 ? -1 : (rx - ry) * direction;
    if (rx === 3 || x === y) return 0;
    return ((x as number | string) < (y as number | string) ? -1 : 1) * direction;
  });
}

/**
 * One page of rows in the order of a column of numbers and empty cells (most columns), without
 * ordering every row: the values alone sort natively (a typed array, no comparator, several times
 * faster), which gives the values at the page's first and last place; only the rows within those
 * bounds are then sorted with their row numbers (equal values keep the run's order, as in
 * sortedOrder). Undefined for a column that holds anything else.
 */
export function numericPage(cells: readonly unknown[], descending: boolean, offset: number, limit: number): number[] | undefined {
  const sign = descending ? -1 : 1;
  const keys = new Float64Array(cells.length);
  const empty: number[] = [];
  let count = 0;
  for (let row = 0; row < cells.length; row++) {
    const value = cells[row];
    if (typeof value === 'number') keys[count++] = sign * value;
    else if (value === null || value === undefined) empty.push(row);
    else return undefined;
  }
  const page: number[] = [];
  const last = Math.min(offset + limit, count) - 1;
  if (offset <= last) {
    const sorted = keys.slice(0, count).sort();
    const low = sorted[offset]!;
    const high = sorted[last]!;
    let before = 0; // how many values are below the page's first: binary search
    for (let hi = offset; before < hi; ) {
      const mid = (before + hi) >>> 1;
      if (sorted[mid]! < low) before = mid + 1;
      else hi = mid;
    }
    const within: number[] = [];
    for (let row = 0; row < cells.length; row++) {
      const value = cells[row];
      if (typeof value === 'number' && sign * value >= low && sign * value <= high) within.push(row);
    }
    within.sort((a, b) => sign * ((cells[a] as number) - (cells[b] as number)) || a - b);
    page.push(...within.slice(offset - before, offset - before + (last - offset + 1)));
  }
  for (let i = Math.max(0, offset - count); page.length < limit && i < empty.length; i++) page.push(empty[i]!);
  return page;
}

/**
 * What a run's answer carries for the result viewer (result-view.ts) beyond what the model
 * reads: the tables the run showed, each with its columns, row count, first rows and, for a
 * table longer than that which the sandbox saved in a live context, a signed result_handle to
 * page through it with result_page. It goes in the result's `_meta` (VIEW_META_KEY), which MCP
 * Apps hosts hand to the view and clients do not put before the model, so the model's own text
 * (content, structuredContent) stays as it was, however long the table.
 *
 * The sandbox's Python and R preludes describe every data frame they show under TABLE_MIME (our
 * own MIME type, which reaches us in the result's `extra`); a JavaScript or TypeScript context's
 * DataFrame arrives as Deno's kernel shows it, a data resource of its first rows.
 */
import type { CallToolResult } from '@modelcontextprotocol/server';
import type { Execution } from '../sandbox-client/client.ts';
import type { ToolDeps } from '../tools/tool-definition.ts';
import { encodeResultHandle, isSavedTablePath } from './result-handles.ts';

/** The MIME type under which the sandbox's Python and R preludes describe a data frame they show. */
export const TABLE_MIME = 'application/vnd.fc-code-interpreter.table+json';
/**
 * The Frictionless tabular data resource (`{schema: {fields}, data: [records]}`): what Deno's
 * kernel shows for a DataFrame (Polars', or any object with `schema`, `head` and `toRecords`),
 * its first 50 rows only, and what pandas shows with `display.html.table_schema` on.
 */
export const DATA_RESOURCE_MIME = 'application/vnd.dataresource+json';
/** Rows Deno's kernel puts in a DataFrame's data resource (its `df.head(50)`). */
const DENO_DATAFRAME_ROWS = 50;
/** A description sent as text (IRkernel sends every repr as text) longer than this is not parsed. */
const MAX_DESCRIPTION_CHARS = 4 * 1024 * 1024;
/** Rows of a table the result carries at most (the prelude sends 50). */
const FIRST_ROWS = 50;
/** The key of the result's `_meta` the viewer reads. */
export const VIEW_META_KEY = 'fc-code-interpreter/view';

/** A text cell longer than this is cut (with "…") wherever the view gets it: the view shows a cell on one line. */
export const MAX_CELL_CHARS = 1000;

/** A cell as the view gets it: long text cut. */
export function viewCell(value: unknown): unknown {
  return typeof value === 'string' && value.length > MAX_CELL_CHARS ? `${value.slice(0, MAX_CELL_CHARS)}…` : (value ?? null);
}

/** One table as the viewer gets it. */
export interface ViewTable {
  /** Which entry of structuredContent.results it is. */
  result: number;
  columns: { name: string; dtype: string }[];
  row_count: number;
  /** The first rows (row-major), as many as the prelude sends (50). */
  rows: unknown[][];
  /** For the rows beyond `rows`: pass to result_page. */
  result_handle?: string;
  /** Rows the saved table holds, when fewer than row_count (the prelude's cap). */
  saved_rows?: number;
  /** Why only the first rows can be shown, when there is no handle. */
  note?: string;
}

/** Where a run ran: its session and, for a context that outlives the call, the sandbox's context id. */
export interface RunPlace {
  session: string;
  /** Absent for a one-off run, whose workspace goes with it. */
  sandboxContextId?: string;
}

/** The result with the viewer's data in `_meta`, when the run showed a table; else the result as it was. */
export function withViewData(result: CallToolResult, execution: Execution, deps: ToolDeps, place: RunPlace): CallToolResult {
  const tables: ViewTable[] = [];
  execution.results.forEach((entry, index) => {
    const extra = entry.extra as Record<string, unknown> | undefined;
    const described = describedTable(parsedJson(extra?.[TABLE_MIME])) ?? dataResourceTable(extra?.[DATA_RESOURCE_MIME]);
    if (!described) return;
    const { file, saved_rows, ...shown } = described;
    const viewTable: ViewTable = { result: index, ...shown };
    if (file !== undefined && place.sandboxContextId !== undefined) {
      viewTable.result_handle = encodeResultHandle(deps, { session: place.session, sandboxContextId: place.sandboxContextId, file });
      if (saved_rows !== undefined && saved_rows < shown.row_count) viewTable.saved_rows = saved_rows;
    } else if (shown.row_count > shown.rows.length) {
      viewTable.note = 'only the first rows: a one-off run keeps nothing; run in a context (create_context) to page through all';
    }
    tables.push(viewTable);
  });
  if (tables.length === 0) return result;
  return { ...result, _meta: { ...result._meta, [VIEW_META_KEY]: { tables } } };
}

/** A table as a kernel described it: the view's fields, and where the prelude saved the whole. */
type DescribedTable = Omit<ViewTable, 'result'> & { file?: string; saved_rows?: number };

/** The prelude's description, checked by shape (it comes from code the user could have changed). */
function describedTable(value: unknown): DescribedTable | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const { columns, row_count, rows, file, saved_rows } = value as Record<string, unknown>;
  const columnsOk =
    Array.isArray(columns) &&
    columns.every((c) => c && typeof (c as { name?: unknown }).name === 'string' && typeof (c as { dtype?: unknown }).dtype === 'string');
  if (!columnsOk || typeof row_count !== 'number' || !Array.isArray(rows) || !rows.every(Array.isArray)) return undefined;
  return {
    columns: (columns as { name: string; dtype: string }[]).map(({ name, dtype }) => ({ name, dtype })),
    row_count,
    rows: (rows as unknown[][]).slice(0, FIRST_ROWS).map((row) => row.map(viewCell)),
    ...(isSavedTablePath(file) ? { file } : {}),
    ...(typeof saved_rows === 'number' ? { saved_rows } : {}),
  };
}

/** IRkernel sends a repr's JSON as text; Python's arrives parsed. */
function parsedJson(value: unknown): unknown {
  if (typeof value !== 'string' || value.length > MAX_DESCRIPTION_CHARS) return value;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

/** A data resource as a table of its rows: all a kernel sent, so no handle; a note when there may be more. */
function dataResourceTable(value: unknown): DescribedTable | undefined {
  const resource = parsedJson(value);
  if (resource === null || typeof resource !== 'object') return undefined;
  const { schema, data } = resource as { schema?: { fields?: unknown }; data?: unknown };
  const fields = schema?.fields;
  if (!Array.isArray(fields) || !Array.isArray(data)) return undefined;
  if (!fields.every((f) => f && typeof (f as { name?: unknown }).name === 'string')) return undefined;
  const columns = (fields as { name: string; type?: unknown }[]).map(({ name, type }) => ({
    name,
    dtype: typeof type === 'string' ? type : 'string',
  }));
  const records = data.filter((row): row is Record<string, unknown> => row !== null && typeof row === 'object');
  const table: DescribedTable = {
    columns,
    row_count: records.length,
    rows: records.slice(0, FIRST_ROWS).map((row) => columns.map(({ name }) => viewCell(row[name]))),
  };
  if (records.length >= DENO_DATAFRAME_ROWS) {
    table.note = `the kernel sent only these ${records.length} rows (Deno shows a DataFrame's first ${DENO_DATAFRAME_ROWS}); the rest is not shown here`;
  }
  return table;
}

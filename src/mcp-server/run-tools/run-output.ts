/**
 * What run_code and wait_run answer: one shape (RunOutput) and one rendering of an execution,
 * whether it ended within the call or is still running in the sandbox (status "running", with
 * a run_id to collect the rest by).
 */
import type { CallToolResult } from '@modelcontextprotocol/server';
import { z } from 'zod';
import type { Execution } from '../sandbox-client/client.ts';
import { RESULT_FORMATS, type ResultEvent, type ResultFormat } from '../../protocol/sandbox-api.ts';
import type { ChangedFile } from '../file-tools/changed-files.ts';
import type { ToolDeps } from '../tools/tool-definition.ts';
import { fileLink } from '../file-tools/workspace-files.ts';

/** How long run_code and wait_run wait for a run before answering "running": below the common clients' 60 s deadline. */
export const DEFAULT_WAIT_SECONDS = 40;

/**
 * The longest wait a call may ask for. Both official SDKs time a request out at 60 s, not reset by
 * progress, and a caller that times out loses the answer (run_code's run is then interrupted); 10 s
 * are left for the answer to be built and sent. A longer run is collected by wait_run, call by call.
 */
export const MAX_WAIT_SECONDS = 50;

/** wait_seconds of run_code and wait_run: bounded below the clients' deadline, and saying why. */
export function waitSecondsParam(what: string, { zero }: { zero: boolean }) {
  const seconds = z.number();
  return (zero ? seconds.nonnegative() : seconds.positive())
    .max(MAX_WAIT_SECONDS, {
      error: `wait_seconds is at most ${MAX_WAIT_SECONDS}: MCP clients time a request out at 60 s and the answer would be lost. Wait again with wait_run instead`,
    })
    .optional()
    .describe(
      `${what} (default ${DEFAULT_WAIT_SECONDS}, at most ${MAX_WAIT_SECONDS}, below the 60 s after which MCP clients give up on a request; ` +
        'a longer run is collected by calling wait_run again).',
    );
}

/** Result formats carried in structuredContent; png/jpeg go out as MCP image content instead. */
const TEXTUAL_FORMATS = ['text', 'html', 'markdown', 'latex', 'svg', 'javascript'] as const satisfies readonly ResultFormat[];

const ResultEntry = z.object({
  is_main_result: z.boolean().describe('true for the value of the last expression; false for displays such as plots'),
  formats: z.array(z.string()).describe('every format the sandbox produced, e.g. ["text","png"]'),
  text: z.string().optional(),
  html: z.string().optional(),
  markdown: z.string().optional(),
  latex: z.string().optional(),
  svg: z.string().optional(),
  javascript: z.string().optional(),
  json: z.unknown().optional(),
  chart: z
    .record(z.string(), z.unknown())
    .optional()
    .describe("a plotted figure read as data (E2B's chart: type, title, axis labels, scales, elements with the values)"),
});

export const RunOutput = z.object({
  stdout: z.string(),
  stderr: z.string(),
  results: z.array(ResultEntry),
  error: z.object({ name: z.string(), value: z.string(), traceback: z.string() }).nullable(),
  execution_count: z.number().int().nullable(),
  files_changed: z
    .array(z.object({ path: z.string(), size: z.number().nullable(), uri: z.string() }))
    .describe('Files in the workspace the run created or changed (read them with read_file or as resources)'),
  status: z
    .enum(['done', 'running'])
    .describe('"running": the run goes on in the sandbox; the fields hold its output so far. Collect the rest with wait_run.'),
  run_id: z.string().optional().describe('With status "running": pass it to wait_run (the rest and the result) or cancel_run'),
});
type RunOutput = z.infer<typeof RunOutput>;

/** How a rendering differs from a plain finished run. */
export interface RenderOptions {
  files?: ChangedFile[];
  /** The run goes on under this run_id (status "running"). */
  runningAs?: string;
  /** Lines added at the end of the text, e.g. how to go on. */
  notes?: string[];
}

function resultEntry(result: ResultEvent): RunOutput['results'][number] {
  const formats = RESULT_FORMATS.filter((format) => result[format] != null);
  const entry: RunOutput['results'][number] = { is_main_result: result.is_main_result ?? false, formats };
  for (const format of TEXTUAL_FORMATS) {
    const value = result[format];
    if (typeof value === 'string') entry[format] = value;
  }
  if (result.json !== undefined) entry.json = result.json;
  if (result.chart !== null && typeof result.chart === 'object') entry.chart = result.chart as Record<string, unknown>;
  return entry;
}

export function renderExecution(execution: Execution, deps: ToolDeps, started: number, options: RenderOptions = {}): CallToolResult {
  const files = options.files ?? [];
  const structured: RunOutput = {
    stdout: execution.stdout,
    stderr: execution.stderr,
    results: execution.results.map(resultEntry),
    error: execution.error ? { name: execution.error.name, value: execution.error.value, traceback: execution.error.traceback } : null,
    execution_count: execution.executionCount ?? null,
    files_changed: files.map(({ path, size, uri }) => ({ path, size, uri })),
    status: options.runningAs === undefined ? 'done' : 'running',
    ...(options.runningAs === undefined ? {} : { run_id: options.runningAs }),
  };
  if (!execution.complete && options.runningAs === undefined && !structured.error) {
    structured.error = {
      name: 'SandboxError',
      value: 'the sandbox ended the run without finishing it (the kernel or the connection went away)',
      traceback: '',
    };
  }

  const sections: string[] = [];
  if (structured.stdout) sections.push(`stdout:\n${structured.stdout.replace(/\n$/, '')}`);
  if (structured.stderr) sections.push(`stderr:\n${structured.stderr.replace(/\n$/, '')}`);
  const content: CallToolResult['content'] = [];
  for (const result of execution.results) {
    const label = result.is_main_result ? 'result' : 'display';
    if (result.text !== undefined && !(result.png || result.jpeg)) sections.push(`${label}:\n${result.text}`);
    else if (result.png || result.jpeg) sections.push(`${label}: image${result.text ? ` (${result.text})` : ''}`);
    else if (result.markdown !== undefined) sections.push(`${label}:\n${result.markdown}`);
    else if (result.html !== undefined) sections.push(`${label} (html):\n${result.html}`);
    if (result.png) content.push({ type: 'image', data: canonicalBase64(result.png), mimeType: 'image/png' });
    if (result.jpeg) content.push({ type: 'image', data: canonicalBase64(result.jpeg), mimeType: 'image/jpeg' });
  }
  if (structured.error) {
    const { name, value, traceback } = structured.error;
    sections.push(`error: ${name}: ${value}${traceback ? `\n${traceback}` : ''}`);
  }
  if (files.length > 0) {
    sections.push(`files written:\n${files.map((file) => `${file.path} (${file.size ?? '?'} bytes)`).join('\n')}`);
    for (const file of files) content.push(fileLink(file.uri, file.name, file.size));
  }
  if (options.notes) sections.push(...options.notes);
  const text = sections.length > 0 ? sections.join('\n\n') : '(no output)';
  deps.logger.debug('run finished', { ms: Math.round(performance.now() - started) });
  return {
    content: [{ type: 'text', text }, ...content],
    structuredContent: structured,
    isError: structured.error !== null,
  };
}

/**
 * Jupyter's base64 ends in a newline (and a sandbox may wrap lines); clients that check image data
 * with a strict base64 schema (the Vercel AI SDK's MCP client) refuse the whole result for it.
 */
function canonicalBase64(data: string): string {
  return Buffer.from(data, 'base64').toString('base64');
}

import type { CallToolResult } from '@modelcontextprotocol/server';
import { z } from 'zod';
import type { Execution } from '../sandbox/client.ts';
import { RESULT_FORMATS, type ResultEvent, type ResultFormat } from '../sandbox/protocol.ts';
import { type ChangedFile, changedFiles, snapshotWorkspace } from './changed-files.ts';
import { createRunProgress } from './run-progress.ts';
import { createTenantContext } from './tenant-contexts.ts';
import { ContextIdParam, LanguageParam, releaseSessionIfEmpty, resolveContext } from './context-params.ts';
import { failureOf, unknownContext } from './tool-failure.ts';
import { defineTool, type ToolDeps } from './tool-definition.ts';

const MAX_TIMEOUT_SECONDS = 3600;

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
});

const RunOutput = z.object({
  stdout: z.string(),
  stderr: z.string(),
  results: z.array(ResultEntry),
  error: z.object({ name: z.string(), value: z.string(), traceback: z.string() }).nullable(),
  execution_count: z.number().int().nullable(),
  files_changed: z
    .array(z.object({ path: z.string(), size: z.number().nullable(), uri: z.string() }))
    .describe('Files in the workspace the run created or changed (read them with read_file or as resources)'),
});
type RunOutput = z.infer<typeof RunOutput>;

export const runCode = defineTool({
  name: 'run_code',
  title: 'Run code',
  description:
    'Runs code and returns its stdout, stderr, the value of the last expression, rich results and any error (name, message, traceback). ' +
    'With context_id, runs in that context: variables, imports and files persist between calls (create one with create_context). ' +
    'With only language (or nothing, meaning python), runs once in a fresh context that is removed right after the call, so nothing persists. ' +
    'Charts (e.g. matplotlib plt.show()) come back as images. Output streams as log/progress notifications during long runs. ' +
    'A run that raises or exceeds timeout_seconds is reported as an error result. The sandbox has no network access unless its operator enabled it.',
  inputSchema: z.object({
    code: z.string().min(1).describe('The code to run, as you would type it into a notebook cell.'),
    context_id: ContextIdParam.optional().describe(
      'Run in this context (from create_context or list_contexts). When given, language is ignored.',
    ),
    language: LanguageParam.optional().describe(
      'Without context_id: run once in a fresh context of this language ("python" by default, "javascript", "typescript").',
    ),
    timeout_seconds: z
      .number()
      .positive()
      .max(MAX_TIMEOUT_SECONDS)
      .optional()
      .describe('Stop the run after this many seconds (default set by the server, typically 300). The context survives a timeout.'),
  }),
  outputSchema: RunOutput,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
  async handler({ code, context_id, language, timeout_seconds }, deps, call) {
    const timeout = timeout_seconds ?? deps.runTimeoutSeconds;
    const progress = createRunProgress(call);
    const started = performance.now();

    if (context_id !== undefined) {
      const address = resolveContext(deps, context_id);
      if (!address) return unknownContext(context_id);
      try {
        const before = await snapshotWorkspace(deps, address.session);
        const execution = await deps.sandbox.execute(
          address.session,
          { code, context_id: address.context, timeout },
          { signal: call.signal, onEvent: progress.onEvent },
        );
        await progress.finish();
        const files = await changedFiles(deps, address.session, context_id, before);
        return renderExecution(execution, deps, started, files);
      } catch (error) {
        await progress.finish();
        return failureOf(error, context_id);
      }
    }

    // One-off run: a fresh context, always removed, even when the run fails.
    let session: string | undefined;
    let contextId: string | undefined;
    try {
      // Counted against the tenant's cap like any context, for as long as it runs.
      const created = await createTenantContext(deps, { language: language ?? 'python', description: 'one-off run_code' });
      session = created.session;
      contextId = created.context.id;
      const execution = await deps.sandbox.execute(
        session,
        { code, context_id: contextId, timeout },
        { signal: call.signal, onEvent: progress.onEvent },
      );
      await progress.finish();
      return renderExecution(execution, deps, started);
    } catch (error) {
      await progress.finish();
      return failureOf(error);
    } finally {
      if (session !== undefined) {
        if (contextId !== undefined) {
          await deps.sandbox
            .deleteContext(session, contextId)
            .catch((error: unknown) => deps.logger.warn('could not remove one-off context', { error: String(error) }));
        }
        await releaseSessionIfEmpty(deps, session);
      }
    }
  },
});

function resultEntry(result: ResultEvent): RunOutput['results'][number] {
  const formats = RESULT_FORMATS.filter((format) => result[format] != null);
  const entry: RunOutput['results'][number] = { is_main_result: result.is_main_result ?? false, formats };
  for (const format of TEXTUAL_FORMATS) {
    const value = result[format];
    if (typeof value === 'string') entry[format] = value;
  }
  if (result.json !== undefined) entry.json = result.json;
  return entry;
}

function renderExecution(execution: Execution, deps: ToolDeps, started: number, files: ChangedFile[] = []): CallToolResult {
  const structured: RunOutput = {
    stdout: execution.stdout,
    stderr: execution.stderr,
    results: execution.results.map(resultEntry),
    error: execution.error ? { name: execution.error.name, value: execution.error.value, traceback: execution.error.traceback } : null,
    execution_count: execution.executionCount ?? null,
    files_changed: files.map(({ path, size, uri }) => ({ path, size, uri })),
  };
  if (!execution.complete && !structured.error) {
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
    if (result.png) content.push({ type: 'image', data: result.png, mimeType: 'image/png' });
    if (result.jpeg) content.push({ type: 'image', data: result.jpeg, mimeType: 'image/jpeg' });
  }
  if (structured.error) {
    const { name, value, traceback } = structured.error;
    sections.push(`error: ${name}: ${value}${traceback ? `\n${traceback}` : ''}`);
  }
  if (files.length > 0) {
    sections.push(`files written:\n${files.map((file) => `${file.path} (${file.size ?? '?'} bytes)`).join('\n')}`);
    for (const file of files)
      content.push({ type: 'resource_link', uri: file.uri, name: file.name, ...(file.size === null ? {} : { size: file.size }) });
  }
  const text = sections.length > 0 ? sections.join('\n\n') : '(no output)';
  deps.logger.debug('run finished', { ms: Math.round(performance.now() - started) });
  return {
    content: [{ type: 'text', text }, ...content],
    structuredContent: structured,
    isError: structured.error !== null,
  };
}

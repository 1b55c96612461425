/**
 * What a run's answer costs an agent: the text block a model reads and each text field of
 * structuredContent are bounded to MCP_MAX_TEXT_BYTES, keeping the head and the tail (where
 * tracebacks and final results are) with a note of what was cut. The full output is saved
 * first as a file in the context's workspace and linked, so nothing is lost: the agent reads
 * it with read_file (or code) when it needs more. A one-off run's workspace goes with its
 * context, so there the note says the rest is gone and how to keep it next time.
 *
 * Without this, a run at the sandbox's 4 MiB output cap answered 8.66 MB: the same bytes in
 * the text block and in structuredContent.stdout.
 */
import type { CallToolResult } from '@modelcontextprotocol/server';
import { SANDBOX_ERROR_NAMES, WORKSPACE_DIR } from '../../protocol/sandbox-api.ts';
import type { ToolDeps } from '../tools/tool-definition.ts';
import { fileLink, fileUri } from '../file-tools/workspace-files.ts';

/** Where full outputs go, in the workspace. */
const OUTPUT_FOLDER = 'outputs';

/** Fields of run_code's structuredContent that hold output text. */
const TEXT_FIELDS = ['stdout', 'stderr'] as const;
const RESULT_TEXT_FIELDS = ['text', 'html', 'markdown', 'latex', 'svg', 'javascript'] as const;

export interface SavedTo {
  /** The run's context, when it has one that outlives the call (not a one-off run). */
  contextId?: string;
  session: string;
}

/**
 * The result, bounded. Saves the full text (all sections, as the model would have read
 * them) to `outputs/run-<n>.txt` when anything had to be cut and the run has a context.
 */
export async function boundRunResult(result: CallToolResult, deps: ToolDeps, where: SavedTo): Promise<CallToolResult> {
  const max = deps.settings.maxTextBytes;
  const textBlock = result.content[0];
  const structured = result.structuredContent as Record<string, unknown> | undefined;
  const fullText = textBlock?.type === 'text' ? textBlock.text : '';
  if (!needsBound(fullText, structured, max)) return result;

  let saved: { path: string; uri: string; name: string } | undefined;
  if (where.contextId !== undefined) {
    const name = `run-${structured?.execution_count ?? Date.now()}-${Date.now().toString(36)}.txt`;
    const path = `${WORKSPACE_DIR}/${OUTPUT_FOLDER}/${name}`;
    try {
      await deps.sandbox.writeFile(where.session, { path, content: fullText, encoding: 'utf-8', createDir: true });
      saved = { path, name, uri: fileUri(where.contextId, [OUTPUT_FOLDER, name]) };
    } catch (error) {
      deps.logger.warn('could not save a run output', { error: error instanceof Error ? error.message : String(error) });
    }
  }
  // A run stopped at the sandbox's output cap lost what came after it: the file holds what was kept, not all.
  const stoppedAtCap = (structured?.error as { name?: unknown } | null | undefined)?.name === SANDBOX_ERROR_NAMES.outputLimit;
  const kept = stoppedAtCap ? 'what the sandbox kept before it stopped the run at its output limit' : 'the full output';
  const remedy = saved
    ? `${kept} is in ${saved.path} (read_file "${OUTPUT_FOLDER}/${saved.name}", or the linked resource)`
    : where.contextId === undefined
      ? 'the rest is gone with this one-off run: run in a context (create_context) to keep full outputs as files'
      : 'the full output could not be saved';
  const cut = (text: string) => headAndTail(text, max, remedy);

  const content = [...result.content];
  if (textBlock?.type === 'text') content[0] = { ...textBlock, text: cut(fullText) };
  if (saved) content.push(fileLink(saved.uri, saved.name, Buffer.byteLength(fullText)));
  return { ...result, content, ...(structured ? { structuredContent: boundStructured(structured, cut) } : {}) };
}

function needsBound(text: string, structured: Record<string, unknown> | undefined, max: number): boolean {
  // A byte is at most one UTF-16 unit: shorter strings need no counting.
  const over = (value: unknown) => typeof value === 'string' && value.length > max / 3 && Buffer.byteLength(value) > max;
  if (over(text)) return true;
  if (!structured) return false;
  if (TEXT_FIELDS.some((field) => over(structured[field]))) return true;
  if (over((structured.error as { traceback?: unknown } | null)?.traceback)) return true;
  const results = (structured.results as Record<string, unknown>[] | undefined) ?? [];
  return results.some((entry) => RESULT_TEXT_FIELDS.some((field) => over(entry[field])));
}

function boundStructured(structured: Record<string, unknown>, cut: (text: string) => string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...structured };
  for (const field of TEXT_FIELDS) if (typeof out[field] === 'string') out[field] = cut(out[field] as string);
  const error = out.error as { traceback?: string } | null | undefined;
  if (error && typeof error.traceback === 'string') out.error = { ...error, traceback: cut(error.traceback) };
  if (Array.isArray(out.results)) {
    out.results = (out.results as Record<string, unknown>[]).map((entry) => {
      const bounded = { ...entry };
      for (const field of RESULT_TEXT_FIELDS) if (typeof bounded[field] === 'string') bounded[field] = cut(bounded[field] as string);
      return bounded;
    });
  }
  return out;
}

/** `text` if it fits in `max` UTF-8 bytes; else its head and tail, about max/2 bytes each, and a note between. */
export function headAndTail(text: string, max: number, where: string): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= max) return text;
  const half = Math.floor(max / 2);
  const head = utf8Prefix(bytes, half);
  const tail = utf8Suffix(bytes, half);
  const cut = bytes.length - head.length - tail.length;
  return `${head.toString('utf8')}\n\n[… ${cut} bytes of ${bytes.length} cut here (MCP_MAX_TEXT_BYTES=${max}); ${where} …]\n\n${tail.toString('utf8')}`;
}

/** The first bytes up to `n`, not splitting a character. */
function utf8Prefix(bytes: Buffer, n: number): Buffer {
  let end = Math.min(n, bytes.length);
  while (end > 0 && end < bytes.length && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

/** The last bytes up to `n`, not splitting a character. */
function utf8Suffix(bytes: Buffer, n: number): Buffer {
  let start = Math.max(bytes.length - n, 0);
  while (start < bytes.length && (bytes[start]! & 0xc0) === 0x80) start++;
  return bytes.subarray(start);
}

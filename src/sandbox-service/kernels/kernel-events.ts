/**
 * Turns the kernel's iopub messages into events of the wire protocol, the way E2B's
 * code-interpreter server does (MIME bundle → result fields; one pair of quotes,
 * single or double, stripped from text/plain), with ANSI codes removed from text results and tracebacks.
 */
import type { ErrorEvent, ExecutionEvent, ResultEvent } from '../../protocol/sandbox-api.ts';
import { stripAnsi } from './ansi.ts';
import type { KernelMessage } from './kernel-connection.ts';

const MIME_FIELDS: Record<string, keyof ResultEvent> = {
  'text/plain': 'text',
  'text/html': 'html',
  'text/markdown': 'markdown',
  'image/svg+xml': 'svg',
  'image/png': 'png',
  'image/jpeg': 'jpeg',
  'application/pdf': 'pdf',
  'text/latex': 'latex',
  'application/json': 'json',
  'application/javascript': 'javascript',
  'e2b/data': 'data',
  'e2b/chart': 'chart',
};

function resultFromBundle(data: Record<string, unknown>, isMainResult: boolean): ResultEvent {
  const result: ResultEvent = { type: 'result', is_main_result: isMainResult };
  const extra: Record<string, unknown> = {};
  for (const [mime, value] of Object.entries(data)) {
    const field = MIME_FIELDS[mime];
    if (field) (result as Record<string, unknown>)[field] = value;
    else extra[mime] = value;
  }
  if (typeof result.text === 'string') {
    let text = stripAnsi(result.text);
    // E2B's server strips one pair of either quote (a Python str's repr, a Deno string's inspect).
    if (text.length >= 2 && /^(?:'[\s\S]*'|"[\s\S]*")$/.test(text)) text = text.slice(1, -1);
    result.text = text;
  }
  if (Object.keys(extra).length > 0) result.extra = extra;
  return result;
}

export function errorFromContent(content: Record<string, unknown>): ErrorEvent {
  const traceback = Array.isArray(content.traceback) ? content.traceback.map(String).join('\n') : '';
  return {
    type: 'error',
    name: String(content.ename ?? 'Error'),
    value: stripAnsi(String(content.evalue ?? '')),
    traceback: stripAnsi(traceback),
  };
}

/** The protocol event for one iopub message, or undefined for messages the stream does not carry. */
export function eventFromIopub(message: KernelMessage): ExecutionEvent | undefined {
  const { content } = message;
  switch (message.header.msg_type) {
    case 'stream':
      return {
        type: content.name === 'stderr' ? 'stderr' : 'stdout',
        text: String(content.text ?? ''),
        timestamp: Date.parse(message.header.date) || Date.now(),
      };
    case 'execute_result':
      return resultFromBundle((content.data ?? {}) as Record<string, unknown>, true);
    case 'display_data':
      return resultFromBundle((content.data ?? {}) as Record<string, unknown>, false);
    case 'error':
      return errorFromContent(content);
    case 'execute_input':
      return typeof content.execution_count === 'number'
        ? { type: 'number_of_executions', execution_count: content.execution_count }
        : undefined;
    default:
      return undefined;
  }
}

/** Bytes an event adds to the execution's output, for the per-execution cap. */
export function outputSize(event: ExecutionEvent): number {
  if (event.type === 'stdout' || event.type === 'stderr') return Buffer.byteLength(event.text);
  if (event.type === 'result' || event.type === 'error') return Buffer.byteLength(JSON.stringify(event));
  return 0;
}

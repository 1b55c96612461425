/**
 * The one info line each MCP request leaves: request id (FC's x-fc-request-id
 * when present), the caller's tenant, era, JSON-RPC method, tool name, outcome, HTTP status, duration.
 * A streamed answer is logged when its stream ends, so the duration covers the run.
 */
import type { ServerResponse } from 'node:http';
import type { Logger } from '../../shared/logger.ts';
import type { ToolOutcome } from '../server/server.ts';

export interface RequestLog {
  era?: 'modern' | 'legacy';
  /** The caller's tenant name (never a token). */
  tenant?: string;
  method?: string;
  tool?: string;
  outcome?: ToolOutcome | 'ok' | 'rejected' | 'cancelled' | 'error';
  error?: string;
  /**
   * Logs the line once the response (or its stream) is done; returns the response to
   * send. `outgoing` is Node's response when there is one: its close tells when a
   * stream ended without wrapping the stream.
   */
  finish(response: Response, outgoing?: Pick<ServerResponse, 'once' | 'writableFinished'>): Response;
}

export function startRequestLog(logger: Logger, requestId: string, route: string): RequestLog {
  const started = performance.now();
  let done = false;
  const log: RequestLog = {
    finish(response, outgoing) {
      const write = (streamOutcome?: 'cancelled') => {
        if (done) return;
        done = true;
        const outcome = streamOutcome ?? log.outcome ?? (response.status < 400 ? 'ok' : 'rejected');
        const fields = {
          request_id: requestId,
          route,
          tenant: log.tenant,
          era: log.era,
          method: log.method,
          tool: log.tool,
          outcome,
          status: response.status,
          duration_ms: Math.round((performance.now() - started) * 10) / 10,
        };
        if (outcome === 'exception') logger.error('mcp request', { ...fields, error: log.error });
        else if (outcome === 'error') logger.info('mcp request', { ...fields, error: log.error });
        else logger.info('mcp request', fields);
      };
      // A JSON-RPC error comes with HTTP 200 in the 2025 era (e.g. -32601 for an unknown
      // method): read it from the answer, which is small for every method but tools/call
      // (whose outcome the tool call itself reports).
      if (log.outcome === undefined && log.method !== 'tools/call' && response.status < 400 && response.body) {
        return watchForRpcError(response, (error) => {
          if (error) {
            log.outcome = 'error';
            log.error = error;
          }
          write();
        });
      }
      // The content type first: reading `body` turns @hono/node-server's light Response of a
      // string (a kept answer, an error) into a full one, and its fast write path is lost.
      if (!(response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
        write();
        return response;
      }
      if (outgoing) {
        outgoing.once('close', () => write(outgoing.writableFinished ? undefined : 'cancelled'));
        return response;
      }
      if (!response.body) {
        write();
        return response;
      }
      // A client that hangs up cancels the stream: log the cancellation.
      return observeBody(response, { onEnd: () => write(), onCancel: () => write('cancelled') });
    },
  };
  return log;
}

/** Answers larger than this are results, not errors (a JSON-RPC error is a few hundred bytes). */
const MAX_ERROR_ANSWER = 64 * 1024;

/** How much of an answer's start shows whether it is a result: `"result"` comes within it. */
const HEAD_BYTES = 256;

/**
 * The response, its body passed through unchanged; once it has been sent, `done` gets the
 * JSON-RPC error it answered ("-32601 Method not found"), or undefined for a result. Cheap for
 * results (tools/list answers tens of KB on every agent's first call): one stream, and nothing
 * kept once the answer's start has shown `"result"`.
 */
function watchForRpcError(response: Response, done: (error: string | undefined) => void): Response {
  const sse = (response.headers.get('content-type') ?? '').startsWith('text/event-stream');
  let chunks: Uint8Array[] | undefined = [];
  let size = 0;
  return observeBody(response, {
    onChunk(chunk) {
      if (!chunks) return;
      const before = size;
      size += chunk.byteLength;
      chunks.push(chunk);
      if (size > MAX_ERROR_ANSWER) chunks = undefined;
      else if (before < HEAD_BYTES && Buffer.concat(chunks).toString('utf8', 0, HEAD_BYTES).includes('"result"')) chunks = undefined;
    },
    onEnd: () => done(chunks ? rpcErrorOf(Buffer.concat(chunks).toString('utf8'), sse) : undefined),
    onCancel: () => done(undefined),
  });
}

/** The response with its body passed through one stream that tells each chunk, the end, or the client's cancel (once). */
function observeBody(response: Response, on: { onChunk?(chunk: Uint8Array): void; onEnd(): void; onCancel(): void }): Response {
  let over = false;
  const reader = response.body!.getReader();
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) {
        controller.close();
        if (!over) on.onEnd();
        over = true;
        return;
      }
      on.onChunk?.(value);
      controller.enqueue(value);
    },
    cancel(reason) {
      if (!over) on.onCancel();
      over = true;
      return reader.cancel(reason);
    },
  });
  return new Response(stream, { status: response.status, statusText: response.statusText, headers: response.headers });
}

/** The error of the last JSON-RPC message in a JSON or SSE body, as "code message". */
function rpcErrorOf(text: string, sse: boolean): string | undefined {
  const data = sse
    ? text
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trim())
        .filter(Boolean)
        .at(-1)
    : text;
  try {
    const message = JSON.parse(data ?? '') as { error?: { code?: unknown; message?: unknown } };
    if (message && typeof message.error === 'object' && message.error !== null) return `${message.error.code} ${message.error.message}`;
  } catch {
    // not JSON: not a JSON-RPC error either
  }
  return undefined;
}

/**
 * What the MCP server's code sees of telemetry (load-telemetry.ts makes one when an OTLP
 * endpoint is set): per request, the pieces that put the request's work into its trace.
 * Type-only, so the app imports no OpenTelemetry code when telemetry is off.
 */
import type { Transport } from '@modelcontextprotocol/server';
import type { MiddlewareHandler } from 'hono';
import type { McpWire } from './mcp-request-span.ts';
import type { SandboxSessions } from '../sessions/types.ts';
import type { ToolCatalog } from '../tools/tool-catalog.ts';

export interface McpTelemetry {
  /**
   * On the MCP path, after auth and the body limit: a SERVER span per MCP request, named and
   * attributed by the MCP semantic conventions, continuing `params._meta.traceparent` or the
   * HTTP `traceparent`; ended (and, on FC, exported) before the answer's last byte goes out.
   */
  readonly traceRequests: MiddlewareHandler;
  /**
   * On the MCP path before the bearer check: notes when the request arrived, so that its span
   * starts then and an `auth` span covers the check (the span itself can only start once the
   * body has said which trace it continues).
   */
  readonly markArrival: MiddlewareHandler;
  /**
   * A connection that carries many requests (stdio, a legacy SSE connection): a SERVER span per
   * request that arrives on `transport`, ended when its answer is sent. Call before connecting
   * the MCP server. The connection's sandbox client, sessions and catalog (made from its one
   * Request) put their spans under the request being handled.
   */
  traceTransport(transport: Transport, wire: McpWire): void;
  /** The fetch for `request`'s sandbox client: a CLIENT span per sandbox call, `traceparent` sent on each. */
  sandboxFetch(request: Request, fetch?: typeof globalThis.fetch): typeof globalThis.fetch | undefined;
  /** `request`'s sessions, each Session API call a span of its trace. */
  sessions(request: Request, sessions: SandboxSessions): SandboxSessions;
  /** The catalog as `request` sees it: its span learns how its tool call ended (error.type, the failure kind). */
  catalog(request: Request, catalog: ToolCatalog): ToolCatalog;
  /** Exports what is left (bounded) and stops. */
  shutdown(): Promise<void>;
}

export interface McpTelemetryOptions {
  /**
   * Export each answer's spans before its last byte goes out, waiting at most the flush bound
   * (FC: an instance may be frozen as soon as it has answered, with spans still queued).
   */
  flushEachAnswer?: boolean;
}

/**
 * What a tool is here: its zod schemas next to its handler, in one module per tool.
 * The schemas are converted to JSON Schema once per process (src/mcp-server/tools/tool-catalog.ts),
 * not per request, because a stateless server builds its MCP server per request.
 */
import type { CallToolResult, LoggingLevel, ServerNotification, ToolAnnotations } from '@modelcontextprotocol/server';
import { z } from 'zod';
import type { DownloadBudget } from '../net/download-budget.ts';
import type { Tenant } from '../auth/tenant.ts';
import type { Config } from '../config.ts';
import type { ContextIdCodec } from '../context-ids/context-id.ts';
import type { Logger } from '../../shared/logger.ts';
import type { SandboxClient } from '../sandbox-client/client.ts';
import type { SandboxSessions } from '../sessions/types.ts';
import { type JsonSchema, portableJsonSchema } from './json-schema.ts';
import { ToolFailureOutput } from './tool-failure.ts';

/** What tool handlers work with, for one request. */
export interface ToolDeps {
  sandbox: SandboxClient;
  /**
   * Where sessions come from, resolved on first use: a missing FC credential must
   * fail the tool that needs a session, never initialize, server/discover or tools/list.
   */
  sessions(): Promise<SandboxSessions>;
  contexts: ContextIdCodec;
  logger: Logger;
  /** The server's settings the tools follow, as config.ts read them (each documented there). */
  settings: ToolSettings;
  /** Who is calling, as the HTTP edge authenticated it (the anonymous tenant without auth, and over stdio). */
  tenant: Tenant;
  /** The bytes of write_file downloads the process holds at once, shared by every request (one per process). */
  downloads: DownloadBudget;
}

/** The part of the one settings object (Config) the tools read: passed down whole, never renamed. */
export type ToolSettings = Pick<
  Config,
  | 'runTimeoutSeconds'
  | 'maxContextsPerTenant'
  | 'maxTextBytes'
  | 'maxFileBytes'
  | 'fetchAllowHosts'
  | 'fetchTimeoutSeconds'
  | 'fetchMinBytesPerSecond'
>;

/** The request-scoped part of a call: cancellation and notifications back to the client. */
export interface ToolCall {
  signal: AbortSignal;
  /** The JSON-RPC id of the tools/call: with the tenant, it tags the call's execution so a cancel from another request finds it. */
  requestId?: string | number;
  progressToken?: string | number;
  /** A progress notification (sent only when the client gave a progress token). */
  notify(notification: ServerNotification): Promise<void>;
  /**
   * A log message for the client; the SDK drops it unless the client asked for logs
   * (2026-07-28: a log level in the request's _meta; 2025: logging/setLevel or the default).
   */
  log(level: LoggingLevel, data: unknown, logger?: string): Promise<void>;
}

export interface Tool<In extends z.ZodObject = z.ZodObject, Out extends z.ZodObject = z.ZodObject> {
  name: string;
  title: string;
  description: string;
  inputSchema: In;
  outputSchema: Out;
  annotations: ToolAnnotations;
  /** The tool's `_meta` in tools/list, e.g. MCP Apps' `ui` (the view that shows its results, or who may call it). */
  _meta?: Record<string, unknown>;
  handler(args: z.output<In>, deps: ToolDeps, call: ToolCall): Promise<CallToolResult>;
}

/**
 * Keeps each tool's handler typed by its own schemas while the catalog holds them all.
 *
 * @example
 * const echo = defineTool({
 *   name: 'echo',
 *   title: 'Echo',
 *   description: 'Answers with the text it was given.',
 *   inputSchema: z.object({ text: z.string() }),
 *   outputSchema: z.object({ text: z.string() }),
 *   annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
 *   async handler({ text }) {
 *     return toolResult({ text }, text);
 *   },
 * });
 */
export function defineTool<In extends z.ZodObject, Out extends z.ZodObject>(tool: Tool<In, Out>): Tool {
  return tool as unknown as Tool;
}

/** A successful result: structured content plus a readable text block. */
export function toolResult<T extends Record<string, unknown>>(structured: T, text: string): CallToolResult {
  return { content: [{ type: 'text', text }], structuredContent: structured };
}

/**
 * A tool's tools/list input schema. The root says no arguments beyond those named
 * (`additionalProperties: false`), which strict tool-calling modes require: without it
 * OpenAI's Agents SDK (`convertSchemasToStrict`) falls back to non-strict for a tool
 * that takes no arguments. The handler's zod schema still ignores extra arguments.
 */
export function listedInputSchema(tool: Tool): JsonSchema & { type: 'object' } {
  return { ...portableJsonSchema(tool.inputSchema, 'input'), type: 'object', additionalProperties: false };
}

/**
 * A tool's tools/list output schema: what it answers on success, or the one failure
 * shape (tool-failure.ts). Clients check structuredContent against it also when isError
 * is set (the 1.x SDK after listTools, Inspector), so a failure that the schema did not
 * admit reached the agent as "-32602 Structured content does not match" instead of our
 * message. A union rather than every field made optional, so that a success is checked
 * as strictly as before. The root stays `type: "object"`, as MCP requires of an output
 * schema (the 2.x SDK wraps any other root in `{result: …}`).
 */
export function listedOutputSchema(tool: Tool): JsonSchema & { type: 'object' } {
  return { type: 'object', ...portableJsonSchema(z.union([tool.outputSchema, ToolFailureOutput]), 'output') };
}

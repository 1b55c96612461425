/**
 * What a tool is here: its zod schemas next to its handler, in one module per tool.
 * The schemas are converted to JSON Schema once per process (src/mcp/catalog.ts),
 * not per request, because a stateless server builds its MCP server per request.
 */
import type { CallToolResult, ServerNotification, ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import type { ContextIdCodec } from '../contexts/context-id.ts';
import type { Logger } from '../logger.ts';
import type { SandboxClient } from '../sandbox/client.ts';
import type { SandboxSessions } from '../sessions/types.ts';

/** What tool handlers work with, for one request. */
export interface ToolDeps {
  sandbox: SandboxClient;
  sessions: SandboxSessions;
  contexts: ContextIdCodec;
  logger: Logger;
  /** run_code's timeout when the caller gives none, seconds. */
  runTimeoutSeconds: number;
}

/** The request-scoped part of a call: cancellation and notifications back to the client. */
export interface ToolCall {
  signal: AbortSignal;
  progressToken?: string | number;
  notify(notification: ServerNotification): Promise<void>;
}

export interface Tool<In extends z.ZodObject = z.ZodObject, Out extends z.ZodObject = z.ZodObject> {
  name: string;
  title: string;
  description: string;
  inputSchema: In;
  outputSchema: Out;
  annotations: ToolAnnotations;
  handler(args: z.output<In>, deps: ToolDeps, call: ToolCall): Promise<CallToolResult>;
}

/** Keeps each tool's handler typed by its own schemas while the catalog holds them all. */
export function defineTool<In extends z.ZodObject, Out extends z.ZodObject>(tool: Tool<In, Out>): Tool {
  return tool as unknown as Tool;
}

/** A failure in the user's domain (unknown context, sandbox down): a tool error, not a protocol error. */
export function toolError(message: string): CallToolResult {
  return { content: [{ type: 'text', text: message }], isError: true };
}

/** A successful result: structured content plus a readable text block. */
export function toolResult<T extends Record<string, unknown>>(structured: T, text: string): CallToolResult {
  return { content: [{ type: 'text', text }], structuredContent: structured };
}

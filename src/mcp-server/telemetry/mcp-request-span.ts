/**
 * The SERVER span of one MCP request, named and attributed as the MCP semantic conventions say
 * (https://opentelemetry.io/docs/specs/semconv/gen-ai/mcp/): `{mcp.method.name} {target}`,
 * the method, the tool, the JSON-RPC id, the protocol version, the transport, and error.type when
 * it failed. Only names, ids and kinds: never arguments, code, output, tokens or file contents.
 */
import { type Attributes, type Context, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Telemetry } from '../../shared/telemetry/types.ts';

/** Our failure kind (refusal.ts TOOL_FAILURE_KINDS) on a span whose tool call failed. */
export const FAILURE_KIND_ATTRIBUTE = 'code_interpreter.failure.kind';

/** What a JSON-RPC message says about itself, as far as a span may tell. */
export interface McpMessage {
  method: string;
  id?: string | number;
  /** tools/call's tool, prompts/get's prompt. */
  target?: string;
  /** The carrier of the caller's trace context: params._meta (MCP's place for it). */
  meta?: Readonly<Record<string, unknown>>;
  /** initialize's params.protocolVersion. */
  protocolVersion?: string;
}

/**
 * The message a body is, when it is one JSON-RPC request or notification (a batch gets no span),
 * or an FC event's tool call (`{"tool", "arguments"}`, invoke-route.ts), which is a tools/call.
 */
export function mcpMessageOf(body: unknown): McpMessage | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const { tool } = body as { tool?: unknown };
  if (typeof tool === 'string' && !('method' in body)) return { method: 'tools/call', target: tool };
  const { method, id, params } = body as { method?: unknown; id?: unknown; params?: Record<string, unknown> };
  if (typeof method !== 'string') return undefined;
  const p = typeof params === 'object' && params !== null ? params : {};
  const target = method === 'tools/call' || method === 'prompts/get' ? p.name : undefined;
  const meta = p._meta;
  return {
    method,
    id: typeof id === 'string' || typeof id === 'number' ? id : undefined,
    target: typeof target === 'string' ? target : undefined,
    meta: typeof meta === 'object' && meta !== null ? (meta as Record<string, unknown>) : undefined,
    protocolVersion: method === 'initialize' && typeof p.protocolVersion === 'string' ? p.protocolVersion : undefined,
  };
}

/** One request's span: where its work's spans hang, and what it learns before it ends. */
export interface McpRequestSpan {
  readonly span: Span;
  /** The context the request's own work (sandbox calls, Session API calls) starts its spans in. */
  readonly context: Context;
  /** The attributes its duration metric carries (the span's low-cardinality subset). */
  readonly metricAttributes: Attributes;
  /** The tool call's result said isError, with our failure kind. */
  toolFailed(kind: string | undefined): void;
  /** The request failed otherwise: a JSON-RPC error code, an HTTP status, an exception's name. */
  failed(errorType: string): void;
}

/** How the message came: over HTTP (the MCP path, /invoke, legacy SSE) or a pipe (stdio). */
export type McpWire = 'http' | 'stdio';

export function startMcpRequestSpan(
  telemetry: Telemetry,
  message: McpMessage,
  http: { traceparent?: string; tracestate?: string; protocolVersion?: string },
  /** When the request arrived, if before the span could start (ms since the epoch). */
  startTime?: number,
  wire: McpWire = 'http',
): McpRequestSpan {
  const carrier = typeof message.meta?.traceparent === 'string' ? message.meta : http;
  const parent = telemetry.extract(carrier);
  const protocolVersion = http.protocolVersion ?? message.protocolVersion;
  const metricAttributes: Attributes =
    wire === 'http'
      ? { 'mcp.method.name': message.method, 'network.transport': 'tcp', 'network.protocol.name': 'http' }
      : { 'mcp.method.name': message.method, 'network.transport': 'pipe' };
  if (protocolVersion) metricAttributes['mcp.protocol.version'] = protocolVersion;
  if (message.method === 'tools/call') {
    metricAttributes['gen_ai.operation.name'] = 'execute_tool';
    if (message.target) metricAttributes['gen_ai.tool.name'] = message.target;
  } else if (message.method === 'prompts/get' && message.target) {
    metricAttributes['gen_ai.prompt.name'] = message.target;
  }
  const attributes: Attributes = { ...metricAttributes };
  if (message.id !== undefined) attributes['jsonrpc.request.id'] = String(message.id);
  const name = message.target ? `${message.method} ${message.target}` : message.method;
  const span = telemetry.tracer.startSpan(name, { kind: SpanKind.SERVER, attributes, startTime }, parent);
  const fail = (errorType: string) => {
    if (metricAttributes['error.type'] !== undefined) return;
    metricAttributes['error.type'] = errorType;
    span.setAttribute('error.type', errorType);
    span.setStatus({ code: SpanStatusCode.ERROR });
  };
  return {
    span,
    context: trace.setSpan(parent, span),
    metricAttributes,
    toolFailed(kind) {
      fail('tool_error');
      if (kind) span.setAttribute(FAILURE_KIND_ATTRIBUTE, kind);
    },
    failed: fail,
  };
}

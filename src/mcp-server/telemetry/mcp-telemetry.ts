/**
 * `createMcpTelemetry(telemetry, options)`: the MCP server's McpTelemetry (types.ts). Each MCP
 * request's span is kept against its Request object, in a WeakMap this object owns: the
 * request's sandbox client, sessions and tool calls find it there, and it is gone with the request.
 * A connection that carries many messages (stdio, legacy SSE) has one Request for all of them:
 * there each message's span is found through an AsyncLocalStorage its handling runs in.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { JSONRPCMessage, Transport } from '@modelcontextprotocol/server';
import type { MiddlewareHandler } from 'hono';
import type { Telemetry } from '../../shared/telemetry/types.ts';
import type { SandboxSessions } from '../sessions/types.ts';
import type { ToolCatalog } from '../tools/tool-catalog.ts';
import type { Tool } from '../tools/tool-definition.ts';
import { type McpRequestSpan, type McpWire, mcpMessageOf, startMcpRequestSpan } from './mcp-request-span.ts';
import { tracedFetch } from './sandbox-fetch.ts';
import { tracedSessions } from './traced-sessions.ts';
import type { McpTelemetry, McpTelemetryOptions } from './types.ts';

/** The MCP conventions' buckets for mcp.server.operation.duration, seconds. */
const DURATION_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];

/** The JSON-RPC code of an unknown tool's answer (-32602, Invalid params). */
const INVALID_PARAMS = '-32602';

/** `response` with `finish` awaited before its last byte goes out (at once for a complete JSON answer). */
async function answerAfter(response: Response, finish: (cancelled?: boolean) => Promise<void>): Promise<Response> {
  if (!response.body || !(response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    await finish();
    return response;
  }
  const reader = response.body.getReader();
  let over = false;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (!done) return controller.enqueue(value);
      if (!over) {
        over = true;
        await finish();
      }
      controller.close();
    },
    async cancel(reason) {
      if (!over) {
        over = true;
        void finish(true);
      }
      await reader.cancel(reason);
    },
  });
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}

/** The tool with its outcome reported to `span`: isError with our failure kind, invalid arguments, an exception. */
function reportingTool(tool: Tool, span: McpRequestSpan): Tool {
  const inputSchema = Object.create(tool.inputSchema, {
    safeParse: {
      value: (...args: Parameters<Tool['inputSchema']['safeParse']>) => {
        const parsed = tool.inputSchema.safeParse(...args);
        if (!parsed.success) span.toolFailed('invalid_arguments');
        return parsed;
      },
    },
  }) as Tool['inputSchema'];
  return {
    ...tool,
    inputSchema,
    async handler(args, deps, call) {
      try {
        const result = await tool.handler(args, deps, call);
        if (result.isError) {
          const kind = (result.structuredContent as { error?: { kind?: unknown } } | undefined)?.error?.kind;
          span.toolFailed(typeof kind === 'string' ? kind : undefined);
        }
        return result;
      } catch (error) {
        span.toolFailed('internal');
        throw error;
      }
    },
  };
}

export function createMcpTelemetry(telemetry: Telemetry, options: McpTelemetryOptions = {}): McpTelemetry {
  const spans = new WeakMap<Request, McpRequestSpan>();
  /** The span of the message being handled on a connection of many (traceTransport). */
  const handling = new AsyncLocalStorage<McpRequestSpan>();
  const spanOf = (request: Request) => spans.get(request) ?? handling.getStore();
  /** When each request arrived, by its Hono context (the same object through the middleware chain). */
  const arrivals = new WeakMap<object, number>();
  const now = () => performance.timeOrigin + performance.now();
  const duration = telemetry.meter.createHistogram('mcp.server.operation.duration', {
    unit: 's',
    description: 'The duration of an MCP request as the server saw it, its streamed answer included',
    advice: { explicitBucketBoundaries: DURATION_BUCKETS },
  });

  /** The request's span ended, and its duration (from `started`, performance.now()) recorded. */
  const endRequest = (span: McpRequestSpan, started: number) => {
    span.span.end();
    duration.record((performance.now() - started) / 1000, span.metricAttributes);
  };

  const traceRequests: MiddlewareHandler = async (c, next) => {
    if (c.req.method !== 'POST') return next();
    let body: unknown;
    try {
      // Hono keeps the text: the MCP route reads the same body again without a second read.
      body = JSON.parse(await c.req.text());
    } catch {
      return next();
    }
    const message = mcpMessageOf(body);
    if (!message) return next();
    const started = performance.now();
    const request = c.req.raw;
    const arrived = arrivals.get(c);
    const span = startMcpRequestSpan(
      telemetry,
      message,
      {
        traceparent: c.req.header('traceparent'),
        tracestate: c.req.header('tracestate'),
        protocolVersion: c.req.header('mcp-protocol-version'),
      },
      arrived,
    );
    // The caller's credential checked (static token or OAuth access token), and the body read.
    if (arrived !== undefined) telemetry.tracer.startSpan('auth', { startTime: arrived }, span.context).end(now());
    spans.set(request, span);
    await next();
    const response = c.res;
    if (response.status >= 400) span.failed(String(response.status));
    span.span.setAttribute('http.response.status_code', response.status);
    c.res = await answerAfter(response, async (cancelled) => {
      if (cancelled) span.failed('cancelled');
      endRequest(span, started);
      if (options.flushEachAnswer) await telemetry.flush();
    });
  };

  /**
   * A SERVER span per request that arrives on `transport` (stdio, a legacy SSE connection), ended
   * when its answer is sent; its handling runs inside `handling`, so the connection's one sandbox
   * client, sessions and catalog find it. The SDK sets `onmessage` when it connects: an accessor
   * puts ours around whatever it sets, whenever it does.
   */
  function traceTransport(transport: Transport, wire: McpWire) {
    const open = new Map<string | number, { span: McpRequestSpan; started: number }>();
    let inner: Transport['onmessage'];
    const traced: Transport['onmessage'] = (message, extra) => {
      const parsed = mcpMessageOf(message);
      const id = (message as { id?: unknown }).id;
      if (!parsed || (typeof id !== 'string' && typeof id !== 'number')) return inner?.(message, extra);
      const span = startMcpRequestSpan(telemetry, parsed, {}, undefined, wire);
      open.set(id, { span, started: performance.now() });
      return handling.run(span, () => inner?.(message, extra));
    };
    Object.defineProperty(transport, 'onmessage', {
      configurable: true,
      enumerable: true,
      get: () => (inner ? traced : undefined),
      set: (handler: Transport['onmessage']) => {
        inner = handler;
      },
    });
    const send = transport.send.bind(transport);
    transport.send = async (message: JSONRPCMessage, sendOptions) => {
      try {
        return await send(message, sendOptions);
      } finally {
        const id = (message as { id?: unknown }).id;
        const entry = 'method' in message || (typeof id !== 'string' && typeof id !== 'number') ? undefined : open.get(id);
        if (entry) {
          open.delete(id as string | number);
          const error = (message as { error?: { code?: unknown } }).error;
          if (error) entry.span.failed(String(error.code));
          endRequest(entry.span, entry.started);
        }
      }
    };
    const onclose = () => {
      for (const { span } of open.values()) {
        span.failed('cancelled');
        span.span.end();
      }
      open.clear();
    };
    const close = transport.close.bind(transport);
    transport.close = async () => {
      onclose();
      return close();
    };
  }

  return {
    traceRequests,
    traceTransport,
    async markArrival(c, next) {
      arrivals.set(c, now());
      await next();
    },
    sandboxFetch(request, fetch) {
      const span = spans.get(request);
      if (span) return tracedFetch(telemetry, span.context, fetch);
      // A connection of many messages: the span is the message's being handled when the call is made.
      return (input, init) => {
        const current = handling.getStore();
        return current ? tracedFetch(telemetry, current.context, fetch)(input, init) : (fetch ?? globalThis.fetch)(input, init);
      };
    },
    sessions(request: Request, sessions: SandboxSessions) {
      const span = spans.get(request);
      if (span) return tracedSessions(telemetry, span.context, sessions);
      const now = () => {
        const current = handling.getStore();
        return current ? tracedSessions(telemetry, current.context, sessions) : sessions;
      };
      return {
        mode: sessions.mode,
        open: (tenantTag, cap) => now().open(tenantTag, cap),
        list: (tenantTag) => now().list(tenantTag),
        ownedBy: (session, tenantTag) => sessions.ownedBy(session, tenantTag),
        close: (sessionId) => now().close(sessionId),
      };
    },
    catalog(request: Request, catalog: ToolCatalog): ToolCatalog {
      return {
        get(name) {
          const span = spanOf(request);
          const tool = catalog.get(name);
          if (!span) return tool;
          if (!tool) span.failed(INVALID_PARAMS);
          return tool && reportingTool(tool, span);
        },
        get listing() {
          return catalog.listing;
        },
        outputSchemaOf: (name) => catalog.outputSchemaOf(name),
      };
    },
    shutdown: () => telemetry.shutdown(),
  };
}

/**
 * `POST /invoke`: Function Compute events. `s invoke`, `s local invoke` and the
 * InvokeFunction API deliver an event to a custom runtime as `POST /invoke` with the
 * event's bytes as the body (any content type) and FC's x-fc-* headers. This route
 * serves it with the same per-request MCP server and tools as the MCP path, through
 * the SDK's own transport in JSON-response mode, so no tool has a second
 * implementation and JSON-RPC handling (batches, notifications, errors) is the SDK's.
 *
 * Accepted events:
 *   - a JSON-RPC request, notification or batch → the JSON-RPC response(s) as plain JSON;
 *   - `{"tool": "<name>", "arguments": {...}}` → that tool's result object.
 *
 * Credential: events sent by `s invoke` cannot carry HTTP headers, and an HTTP trigger
 * passes `/invoke` through from the internet too, so the route trusts neither path:
 * with auth configured (MCP_AUTH_TOKEN, MCP_OAUTH_ISSUER), a request needs
 * `Authorization: Bearer <token>` (checked by the same bearer middleware as the MCP
 * path) or, in the event, `"auth_token": "<token>"` on the event object (on every
 * request of a batch); either may be a static token or an OAuth access token. A wrong
 * token anywhere is refused, even beside a right one, and all of a request's
 * credentials must name one tenant.
 */
import {
  isJSONRPCErrorResponse,
  isJSONRPCResultResponse,
  parseJSONRPCMessage,
  WebStandardStreamableHTTPServerTransport,
  type CallToolResult,
  type JSONRPCMessage,
} from '@modelcontextprotocol/server';
import { Hono } from 'hono';
import type { RequestIdVariables } from 'hono/request-id';
import { z } from 'zod';
import type { Logger } from '../../shared/logger.ts';
import { createMcpServer, type McpServerDeps } from '../server/server.ts';
import { describeIssues } from '../../shared/zod-issues.ts';
import { tenantKey, type Tenant } from '../auth/tenant.ts';
import { batchOverLimit, MAX_BATCH_MESSAGES } from './batch-limit.ts';
import type { TenantRequests } from './tenant-requests.ts';
import { bearer, type CallerAuth, type TenantVariables } from './bearer-auth.ts';
import { errors, rpcError } from './errors.ts';
import { startRequestLog } from './request-log.ts';

export const INVOKE_PATH = '/invoke';

export interface InvokeRouteDeps {
  /** Who a credential belongs to (the same as the MCP path's). */
  auth: CallerAuth;
  logger: Logger;
  /** The MCP server's dependencies for one request (the same as the MCP path's). */
  serverDeps(request: Request, logger: Logger, tenant: Tenant): McpServerDeps;
  /** Each tenant's requests in progress, shared with the MCP path's cap. */
  requests: TenantRequests;
}

type Env = { Variables: RequestIdVariables & TenantVariables };

const EXAMPLES =
  'POST /invoke accepts either a JSON-RPC request or batch, e.g. ' +
  '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run_code","arguments":{"code":"print(6*7)","language":"python"}}}, ' +
  'or a tool call, e.g. {"tool":"run_code","arguments":{"code":"print(6*7)","language":"python"}}' +
  ' (add "auth_token":"<token>" to the event when the server has MCP_AUTH_TOKEN and the request has no Authorization header)';

const ToolCallEvent = z.strictObject({
  tool: z.string().min(1, 'must name a tool'),
  arguments: z.record(z.string(), z.unknown()).optional(),
});

type Parsed =
  | { shape: 'jsonrpc' | 'batch'; messages: JSONRPCMessage[]; tokens: (string | undefined)[] }
  | { shape: 'tool'; call: z.output<typeof ToolCallEvent>; tokens: (string | undefined)[] };

/**
 * An event this route cannot read, thrown while parsing it and answered right there as a
 * JSON-RPC error (400) with its code. Not a Refusal (refusal.ts): no tool is reached, and the
 * answer is the edge's (http/errors.ts).
 */
class InvalidEvent extends Error {
  constructor(
    readonly code: -32700 | -32600,
    reason: string,
  ) {
    super(reason);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** Takes `auth_token` off an event object; a non-string one is a bad event, not a missing credential. */
function withoutToken(value: Record<string, unknown>, where: string): { rest: Record<string, unknown>; token: string | undefined } {
  const { auth_token: token, ...rest } = value;
  if (token !== undefined && typeof token !== 'string') throw new InvalidEvent(-32600, `${where}auth_token must be a string`);
  return { rest, token };
}

function jsonRpcMessage(value: unknown, where: string): { message: JSONRPCMessage; token: string | undefined } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidEvent(-32600, `${where}is ${describe(value)}, not a JSON-RPC request object`);
  }
  const { rest, token } = withoutToken(value as Record<string, unknown>, where);
  if (!('method' in rest)) throw new InvalidEvent(-32600, `${where}is not a JSON-RPC request (it has no "method")`);
  try {
    return { message: parseJSONRPCMessage(rest), token };
  } catch (error) {
    const detail =
      error instanceof z.ZodError || (error as { issues?: unknown }).issues ? describeIssues(error as z.ZodError, 'event') : String(error);
    throw new InvalidEvent(-32600, `${where}is not a valid JSON-RPC request (${detail})`);
  }
}

function parseEvent(text: string): Parsed {
  // An over-long batch is refused before it is parsed (batch-limit.ts).
  if (batchOverLimit(text))
    throw new InvalidEvent(
      -32600,
      `the event is a batch of more than ${MAX_BATCH_MESSAGES} messages; at most ${MAX_BATCH_MESSAGES} in one batch`,
    );
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new InvalidEvent(-32700, `the event is not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (Array.isArray(value)) {
    if (value.length === 0) throw new InvalidEvent(-32600, 'the event is an empty batch');
    if (value.length > MAX_BATCH_MESSAGES) {
      throw new InvalidEvent(-32600, `the event is a batch of ${value.length} messages; at most ${MAX_BATCH_MESSAGES} in one batch`);
    }
    const items = value.map((item, i) => jsonRpcMessage(item, `batch item ${i} `));
    return { shape: 'batch', messages: items.map((i) => i.message), tokens: items.map((i) => i.token) };
  }
  if (typeof value === 'object' && value !== null) {
    if ('jsonrpc' in value) {
      const { message, token } = jsonRpcMessage(value, 'the event ');
      return { shape: 'jsonrpc', messages: [message], tokens: [token] };
    }
    if ('tool' in value) {
      const { rest, token } = withoutToken(value as Record<string, unknown>, '');
      const parsed = ToolCallEvent.safeParse(rest);
      if (!parsed.success) throw new InvalidEvent(-32600, `the tool call is invalid (${describeIssues(parsed.error, 'event')})`);
      return { shape: 'tool', call: parsed.data, tokens: [token] };
    }
    throw new InvalidEvent(-32600, 'the event has neither "jsonrpc" nor "tool"');
  }
  throw new InvalidEvent(-32600, `the event is ${describe(value)}`);
}

export function createInvokeRoute(deps: InvokeRouteDeps): Hono<Env> {
  const { auth, logger } = deps;
  const route = new Hono<Env>();

  // A header credential is checked before the body is read, exactly as on the MCP path.
  route.use(bearer(auth, { headerOptional: true }));

  route.post('/', async (c) => {
    const requestId = c.get('requestId');
    const log = startRequestLog(logger, requestId, 'invoke');

    let event: Parsed;
    try {
      event = parseEvent(await c.req.text());
    } catch (error) {
      if (!(error instanceof InvalidEvent)) throw error;
      return log.finish(rpcError(400, error.code, `Invalid event: ${error.message}. ${EXAMPLES}`));
    }
    log.method =
      event.shape === 'tool' ? 'tools/call' : event.shape === 'batch' ? 'batch' : (event.messages[0] as { method?: string }).method;
    if (event.shape === 'tool') log.tool = event.call.tool;
    else if (event.shape === 'jsonrpc') {
      const params = (event.messages[0] as { params?: { name?: unknown } }).params;
      if (log.method === 'tools/call' && typeof params?.name === 'string') log.tool = params.name;
    }

    // The header's tenant (set by the middleware), else the event's.
    let tenant: Tenant | undefined = c.get('tenant');
    if (auth.required) {
      if (tenant === undefined && event.tokens.includes(undefined)) {
        return log.finish(
          auth.missing(
            `send "Authorization: Bearer <token>" or put "auth_token":"<token>" in the event${event.shape === 'batch' ? ' (on every request of a batch)' : ''}`,
          ),
        );
      }
      // Each distinct token once: a batch repeats the same one.
      for (const token of new Set(event.tokens.filter((t): t is string => t !== undefined))) {
        const verdict = await auth.verify(token);
        if ('refusal' in verdict) return log.finish(verdict.refusal);
        if (tenant !== undefined && tenantKey(tenant) !== tenantKey(verdict.tenant)) {
          return log.finish(errors.invalidRequest("Bad Request: the request's credentials belong to different callers; send one"));
        }
        tenant = verdict.tenant;
      }
    }
    if (tenant === undefined) throw new Error('invoke: no tenant after authentication');
    log.tenant = tenant.id;
    // The tenant is known only now (an event may carry its token): the cap is taken here.
    const release = deps.requests.enter(tenant);
    if (!release) return log.finish(errors.tooManyRequests(tenant.id, deps.requests.max));
    try {
      const messages: JSONRPCMessage[] =
        event.shape === 'tool'
          ? [
              {
                jsonrpc: '2.0',
                id: 'invoke',
                method: 'tools/call',
                params: { name: event.call.tool, arguments: event.call.arguments ?? {} },
              },
            ]
          : event.messages;

      const incoming = c.req.raw;
      log.era = 'legacy';
      const server = createMcpServer({
        ...deps.serverDeps(incoming, logger.child({ request_id: requestId, tenant: tenant.id }), tenant),
        onToolCall: ({ outcome, error }) => {
          log.outcome = outcome;
          log.error = error;
        },
      });
      // An event is one plain JSON answer: the SDK's stateless 2025 transport in JSON mode.
      const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      await server.connect(transport);
      incoming.signal.addEventListener('abort', () => void transport.close(), { once: true });
      // The transport speaks Streamable HTTP; an event has neither its Accept nor its Content-Type.
      const headers = new Headers(incoming.headers);
      headers.set('accept', 'application/json, text/event-stream');
      headers.set('content-type', 'application/json');
      // The body goes in parsed (auth_token removed); the original's length no longer describes it.
      headers.delete('content-length');
      headers.delete('transfer-encoding');
      const response = await transport.handleRequest(new Request(incoming.url, { method: 'POST', headers }), {
        parsedBody: event.shape === 'batch' ? messages : messages[0],
      });

      if (event.shape === 'jsonrpc' || response.status !== 200) return log.finish(response);
      const body = (await response.json()) as unknown;
      if (event.shape === 'batch') {
        // The SDK answers a batch holding one request with a bare object; JSON-RPC wants an array.
        return log.finish(Response.json(Array.isArray(body) ? body : [body]));
      }
      if (isJSONRPCResultResponse(body)) return log.finish(Response.json(body.result as CallToolResult));
      if (isJSONRPCErrorResponse(body)) {
        // Bad parameters (an unknown tool) are the caller's to fix; anything else is ours.
        const status = [-32600, -32601, -32602].includes(body.error.code) ? 400 : 500;
        return log.finish(rpcError(status, body.error.code, body.error.message));
      }
      return log.finish(rpcError(500, -32603, 'Internal error: the MCP server gave no response to the tool call'));
    } finally {
      release();
    }
  });

  route.all('/', () => errors.methodNotAllowed(`send events with POST. ${EXAMPLES}`, 'POST'));
  return route;
}

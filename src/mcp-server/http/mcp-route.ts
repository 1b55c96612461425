/**
 * `createMcpRoute(deps)`: POST /mcp, both protocol eras from one server factory
 * through the SDK's `createMcpHandler`: 2026-07-28 requests (with the `_meta`
 * envelope: server/discover, header validation, caching hints) natively, 2025
 * clients (initialize, or a bare request) by its stateless fallback. Every request
 * gets a new MCP server (GHSA-345p-7cg4-v4c7); the handler keeps nothing about a
 * request once it is answered.
 *
 * @example app.route('/mcp', createMcpRoute({ maxBodyBytes, logger, serverDeps }))
 */
import { createMcpHandler, type McpServerFactory } from '@modelcontextprotocol/server';
import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import type { RequestIdVariables } from 'hono/request-id';
import { ANONYMOUS_TENANT, type Tenant } from '../auth/tenant.ts';
import type { Logger } from '../../shared/logger.ts';
import { cancelRequest, cancelRequests, type RequestId } from '../run-tools/request-cancel.ts';
import { createMcpServer, type McpServerDeps } from '../server/server.ts';
import type { TenantVariables } from './bearer-auth.ts';
import { oversizedBatch, oversizedBatchText } from './batch-limit.ts';
import { errors } from './errors.ts';
import { createPrecomputedAnswers } from './precomputed-answers.ts';
import { startRequestLog, type RequestLog } from './request-log.ts';
import { yieldIfLarge } from '../../shared/yield-to-loop.ts';

export interface McpRouteDeps {
  maxBodyBytes: number;
  logger: Logger;
  /** The MCP server's dependencies for one request of `tenant`, logging through `logger`. */
  serverDeps(request: Request, logger: Logger, tenant: Tenant): McpServerDeps;
}

type Env = { Variables: RequestIdVariables & Partial<TenantVariables>; Bindings: Partial<HttpBindings> };

interface RequestScope {
  log: RequestLog;
  logger: Logger;
  tenant: Tenant;
  /** This request's server, once the factory made it. */
  server?: { close(): Promise<void> };
}

/** What the log line names: the JSON-RPC method and, for tools/call, the tool. */
function describeMessage(body: unknown): { method?: string; tool?: string } {
  if (Array.isArray(body)) return { method: 'batch' };
  if (typeof body !== 'object' || body === null) return {};
  const { method, params } = body as { method?: unknown; params?: { name?: unknown } };
  return {
    method: typeof method === 'string' ? method : undefined,
    tool: method === 'tools/call' && typeof params?.name === 'string' ? params.name : undefined,
  };
}

/** The id of a body that is one tools/call request. */
function toolCallId(body: unknown): RequestId | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const { method, id } = body as { method?: unknown; id?: unknown };
  return method === 'tools/call' && (typeof id === 'string' || typeof id === 'number') ? id : undefined;
}

/** The request ids a body's `notifications/cancelled` name, each once (a batch may hold several). */
function cancelledRequestIds(body: unknown): RequestId[] {
  const ids = new Set<RequestId>();
  for (const message of Array.isArray(body) ? body : [body]) {
    if (typeof message !== 'object' || message === null) continue;
    const { method, params } = message as { method?: unknown; params?: { requestId?: unknown } };
    const id = params?.requestId;
    if (method === 'notifications/cancelled' && (typeof id === 'string' || typeof id === 'number')) ids.add(id);
  }
  return [...ids];
}

export function createMcpRoute(deps: McpRouteDeps): Hono<Env> {
  // Keyed by the request object itself: what one request's server needs, gone with the request.
  const scopes = new WeakMap<Request, RequestScope>();

  const factory: McpServerFactory = (ctx) => {
    const scope = ctx.requestInfo ? scopes.get(ctx.requestInfo) : undefined;
    if (scope) scope.log.era = ctx.era;
    const logger = scope?.logger ?? deps.logger;
    const server = createMcpServer({
      ...deps.serverDeps(ctx.requestInfo ?? new Request('http://mcp.invalid/'), logger, scope?.tenant ?? ANONYMOUS_TENANT),
      onToolCall: ({ outcome, error }) => {
        if (!scope) return;
        scope.log.outcome = outcome;
        scope.log.error = error;
      },
    });
    if (scope) scope.server = server;
    return server;
  };
  const handler = createMcpHandler(factory, {
    maxRequestBodySize: deps.maxBodyBytes,
    onerror: (error) => deps.logger.debug('mcp request refused or failed', { error: error.message }),
  });

  // tools/list, initialize and server/discover: the SDK's answer for a request's shape, kept once per process.
  const precomputed = createPrecomputedAnswers();

  const route = new Hono<Env>();
  route.post('/', async (c) => {
    const requestId = c.get('requestId');
    const log = startRequestLog(deps.logger, requestId, 'mcp');
    // Set by the bearer middleware; only a test's bare route has none.
    const tenant = c.get('tenant') ?? ANONYMOUS_TENANT;
    log.tenant = tenant.id;
    let body: unknown;
    try {
      const text = await c.req.text();
      // An over-long batch is refused before it is parsed (batch-limit.ts).
      const tooLong = oversizedBatchText(text);
      if (tooLong) {
        log.method = 'batch';
        return log.finish(tooLong);
      }
      // Decoding, parsing and what follows, each in a task of its own for a large body.
      await yieldIfLarge(text.length);
      body = JSON.parse(text);
      await yieldIfLarge(text.length);
    } catch (error) {
      return log.finish(errors.parse(`the body is not JSON (${error instanceof Error ? error.message : String(error)})`));
    }
    Object.assign(log, describeMessage(body));
    // What one request costs is bounded before anything in it is acted on.
    const oversized = oversizedBatch(body);
    if (oversized) return log.finish(oversized);
    const request = c.req.raw;
    const outgoing = c.env?.outgoing;
    const answerable = precomputed.answerable(body, request.headers);
    const kept = answerable && precomputed.answer(answerable);
    if (kept) {
      log.era = kept.era;
      log.outcome = 'ok';
      return log.finish(kept.response, outgoing);
    }
    const cancelled = cancelledRequestIds(body);
    const scope: RequestScope = { log, tenant, logger: deps.logger.child({ request_id: requestId, tenant: tenant.id }) };
    scopes.set(request, scope);
    // A cancel for a call that another request (maybe on another instance) is running: the SDK
    // can only answer it here; the call's code is stopped in the sandbox, before the 202 goes out
    // (on FC an instance may be frozen once it has answered).
    if (cancelled.length > 0) {
      await cancelRequests(deps.serverDeps(request, scope.logger, tenant), cancelled).catch((error: unknown) =>
        scope.logger.warn('could not pass a cancel on to the sandbox', { error: String(error) }),
      );
    }
    // A client that hangs up mid-stream must stop its tool call (and so the sandbox call):
    // closing the request's server aborts its handlers. The SDK's own wiring of the
    // request's signal did not always reach a streaming 2026-07-28 exchange. The code is also
    // interrupted by the call's tag, as a cancel would (rarely, under load, the aborted sandbox
    // stream alone let a run go on to its end).
    outgoing?.once('close', () => {
      if (outgoing.writableFinished) return;
      void scope.server?.close().catch(() => {});
      const callId = toolCallId(body);
      if (callId === undefined) return;
      // Not early: the call will not start again, and a new client may soon reuse its id.
      cancelRequest(deps.serverDeps(request, scope.logger, tenant), callId, { early: false }).catch((error: unknown) =>
        scope.logger.warn('could not interrupt the call of a client that went away', { error: String(error) }),
      );
    });
    const response = await handler.fetch(request, { parsedBody: body });
    return log.finish(answerable ? await precomputed.keep(answerable, response, log.era) : response, outgoing);
  });
  const stateless = () => errors.methodNotAllowed('this server is stateless; send JSON-RPC requests with POST', 'POST, OPTIONS');
  route.get('/', stateless);
  route.delete('/', stateless);
  return route;
}

/**
 * `createApp(deps)`: the Hono app of the MCP function. Stateless Streamable HTTP:
 * every POST on the MCP path gets a new MCP server and a new transport, so nothing
 * of one request can leak into another (GHSA-345p-7cg4-v4c7) and any instance can
 * serve any request. Everything it needs comes in through `deps`.
 */
import type { HttpBindings } from '@hono/node-server';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import { requestId, type RequestIdVariables } from 'hono/request-id';
import { isLoopbackHost, type Config } from './config.ts';
import type { ContextIdCodec } from './contexts/context-id.ts';
import type { Logger } from './logger.ts';
import type { ToolCatalog } from './mcp/catalog.ts';
import { createInvokeRoute, INVOKE_PATH } from './mcp/invoke.ts';
import type { LegacySse } from './mcp/legacy-sse.ts';
import { createMcpServer, type McpServerDeps } from './mcp/server.ts';
import type { SandboxClientFactory } from './sandbox/client.ts';
import type { SandboxSessionsFactory } from './sessions/types.ts';

export interface AppDeps {
  config: Pick<Config, 'path' | 'host' | 'authTokens' | 'maxBodyBytes' | 'runTimeoutSeconds' | 'transport'>;
  /** Where sandbox sessions come from, per request (FC: credentials arrive with the request). */
  sessions: SandboxSessionsFactory;
  /** The sandbox client for one request (FC may authorize with the request's credentials). */
  sandbox: SandboxClientFactory;
  contexts: ContextIdCodec;
  /** The tools and their precomputed tools/list entries (createCodeInterpreterCatalog()). */
  catalog: ToolCatalog;
  logger: Logger;
}

type Env = { Variables: RequestIdVariables; Bindings: HttpBindings };

function jsonRpcError(c: Context, status: 400 | 403 | 405 | 413 | 500, code: number, message: string, headers?: Record<string, string>) {
  return c.json({ jsonrpc: '2.0', error: { code, message }, id: null }, status, headers);
}

function hostnameOf(value: string): string | undefined {
  try {
    return new URL(value.includes('://') ? value : `http://${value}`).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return undefined;
  }
}

/**
 * On a loopback bind, a browser page elsewhere could still reach us through DNS
 * rebinding (evil.example resolving to 127.0.0.1): refuse requests whose Host or
 * Origin is not local. Hand-written because Hono ships no host check and the SDK's
 * (exact "host:port" strings) would need the port before it is known (port 0).
 */
function localOnly(): MiddlewareHandler<Env> {
  return async function localOnly(c, next) {
    const host = hostnameOf(c.req.header('host') ?? '');
    const origin = c.req.header('origin');
    const originHost = origin === undefined ? undefined : origin === 'null' ? 'null' : hostnameOf(origin);
    if (!host || !isLoopbackHost(host)) {
      return jsonRpcError(c, 403, -32000, `Forbidden: Host "${c.req.header('host') ?? ''}" is not local; this server only accepts local requests`);
    }
    if (origin !== undefined && (!originHost || !isLoopbackHost(originHost))) {
      return jsonRpcError(c, 403, -32000, `Forbidden: Origin "${origin}" is not local; this server only accepts local requests`);
    }
    await next();
  };
}

/** What one MCP server needs, resolved for one request (or, for stdio, one connection). */
export async function mcpServerDepsFor(deps: AppDeps, request: Request, logger: Logger = deps.logger): Promise<McpServerDeps> {
  return {
    catalog: deps.catalog,
    sandbox: deps.sandbox(request),
    sessions: await deps.sessions(request),
    contexts: deps.contexts,
    logger,
    runTimeoutSeconds: deps.config.runTimeoutSeconds,
  };
}

export function createApp(deps: AppDeps): Hono<Env> {
  const { config, logger } = deps;
  const app = new Hono<Env>();
  const path = config.path;

  // FC's request id when there is one, so our lines join FC's own logs.
  app.use(requestId({ generator: (c) => c.req.header('x-fc-request-id') ?? crypto.randomUUID() }));
  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    logger.debug('http', {
      request_id: c.get('requestId'),
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      duration_ms: Math.round((performance.now() - started) * 10) / 10,
    });
  });
  if (isLoopbackHost(config.host)) app.use(localOnly());

  app.get('/health', (c) => c.json({ status: 'ok' }));

  const mcpPaths = config.transport === 'sse' ? [path, '/sse', '/messages'] : [path];
  app.use(
    path,
    cors({
      origin: '*',
      allowMethods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
      allowHeaders: ['Content-Type', 'Authorization', 'Accept', 'mcp-session-id', 'mcp-protocol-version', 'Last-Event-ID'],
      exposeHeaders: ['mcp-session-id', 'mcp-protocol-version', 'WWW-Authenticate'],
      maxAge: 86400,
    }),
  );
  for (const mcpPath of mcpPaths) {
    if (config.authTokens.length > 0) app.use(mcpPath, bearerAuth({ token: config.authTokens, realm: 'mcp' }));
    app.use(
      mcpPath,
      bodyLimit({
        maxSize: config.maxBodyBytes,
        onError: (c) => jsonRpcError(c, 413, -32000, `Payload Too Large: the request body must not exceed ${config.maxBodyBytes} bytes`),
      }),
    );
  }

  const serverDeps = (request: Request, requestIdValue: string) =>
    mcpServerDepsFor(deps, request, logger.child({ request_id: requestIdValue }));

  app.post(path, async (c) => {
    const request = c.req.raw;
    const server = createMcpServer(await serverDeps(request, c.get('requestId')));
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      maxRequestBodySize: config.maxBodyBytes,
    });
    await server.connect(transport);
    // A client that hangs up aborts its tool call (and so the sandbox call) via close().
    request.signal.addEventListener('abort', () => void transport.close(), { once: true });
    return transport.handleRequest(request);
  });

  // FC events (s invoke, s local invoke, InvokeFunction): the same tools and auth, plain JSON.
  app.route(INVOKE_PATH, createInvokeRoute({ authTokens: config.authTokens, maxBodyBytes: config.maxBodyBytes, logger, serverDeps }));

  const notAllowed = (c: Context) =>
    jsonRpcError(c, 405, -32000, 'Method not allowed: this server is stateless; send JSON-RPC requests with POST', { Allow: 'POST, OPTIONS' });
  app.get(path, notAllowed);
  app.delete(path, notAllowed);

  if (config.transport === 'sse') {
    // Loaded on first use: the legacy transport pulls in body parsers nothing else needs (start-up time).
    let legacy: Promise<LegacySse> | undefined;
    const load = () =>
      (legacy ??= import('./mcp/legacy-sse.ts').then(({ createLegacySse }) =>
        createLegacySse((request) => serverDeps(request, crypto.randomUUID())),
      ));
    app.get('/sse', async (c) => (await load()).connect(c));
    app.post('/messages', async (c) => (await load()).message(c));
  }

  app.notFound((c) => c.json({ error: `not found: ${c.req.method} ${c.req.path}; the MCP endpoint is POST ${path}` }, 404));
  app.onError((error, c) => {
    if (error instanceof HTTPException) return error.getResponse();
    logger.error('unhandled error', { request_id: c.get('requestId'), error: error.stack ?? String(error) });
    return jsonRpcError(c, 500, -32603, 'Internal error');
  });
  return app;
}

/**
 * `createApp(deps)`: the Hono app of the MCP function, assembled from the HTTP
 * edge's parts (src/mcp-server/http/). Stateless: every MCP request gets a new MCP server, so
 * nothing of one request can leak into another (GHSA-345p-7cg4-v4c7) and any
 * instance can serve any request. Everything it needs comes in through `deps`.
 */
import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import { requestId, type RequestIdVariables } from 'hono/request-id';
import type { JwtAccessTokenOptions, JwtAccessTokens } from './auth/jwt-access-tokens.ts';
import { ANONYMOUS_TENANT, type Tenant } from './auth/tenant.ts';
import type { Config } from './config.ts';
import type { ContextIdCodec } from './context-ids/context-id.ts';
import { bearer, createCallerAuth, type TenantVariables } from './http/bearer-auth.ts';
import { limitBody } from '../shared/body-limit.ts';
import { errors } from './http/errors.ts';
import { createHealthRoutes } from './http/health.ts';
import { createInvokeRoute, INVOKE_PATH } from './http/invoke-route.ts';
import type { LegacySseRoutes } from './http/legacy-sse-route.ts';
import { localOnly } from './http/local-only.ts';
import { createMcpRoute } from './http/mcp-route.ts';
import { createTenantRequests, limitTenantRequests } from './http/tenant-requests.ts';
import {
  createLargeBodyLanes,
  LARGE_BODY_BYTES,
  MAX_WAITING as MAX_LARGE_BODIES_WAITING,
  takeLargeBodiesInTurn,
} from './http/large-bodies.ts';
import { createProtectedResourceRoutes, protectedResourceMetadataUrl } from './http/protected-resource.ts';
import type { Logger } from '../shared/logger.ts';
import type { ToolCatalog } from './tools/tool-catalog.ts';
import type { McpServerDeps } from './server/server.ts';
import type { ToolSettings } from './tools/tool-definition.ts';
import { isLoopbackHost } from '../shared/local-request.ts';
import type { DownloadBudget } from './net/download-budget.ts';
import type { SandboxClientFactory } from './sandbox-client/client.ts';
import type { SandboxSessions, SandboxSessionsFactory } from './sessions/types.ts';
import type { McpTelemetry } from './telemetry/types.ts';

export interface AppDeps {
  config: Pick<Config, 'path' | 'host' | 'authTokens' | 'maxBodyBytes' | 'transport' | 'maxRequestsPerTenant'> &
    ToolSettings &
    Partial<Pick<Config, 'oauth' | 'refusalDelayMs'>>;
  /** Where sandbox sessions come from, per request (FC: credentials arrive with the request). */
  sessions: SandboxSessionsFactory;
  /** The sandbox client for one request (FC may authorize with the request's credentials). */
  sandboxClientFor: SandboxClientFactory;
  contexts: ContextIdCodec;
  /** The tools and their precomputed tools/list entries (createCodeInterpreterCatalog()). */
  catalog: ToolCatalog;
  logger: Logger;
  /** The bytes of write_file downloads held at once, one budget for the whole process (createDownloadBudget). */
  downloads: DownloadBudget;
  /** Verifies OAuth access tokens when config.oauth is set (default: jose against the issuer's JWKS, default timings). */
  accessTokens?: JwtAccessTokens;
  /** Traces and metrics (telemetry/load-telemetry.ts), when an OTLP endpoint is set. @default undefined (off) */
  telemetry?: McpTelemetry;
}

type Env = { Variables: RequestIdVariables & TenantVariables; Bindings: HttpBindings };

/**
 * What one MCP server needs, for one request (or, for stdio, one connection).
 * Sessions are resolved on a tool's first use: a missing credential fails that tool,
 * never initialize, server/discover or tools/list.
 */
export function mcpServerDepsFor(
  deps: AppDeps,
  request: Request,
  logger: Logger = deps.logger,
  tenant: Tenant = ANONYMOUS_TENANT,
): McpServerDeps {
  let sessions: Promise<SandboxSessions> | undefined;
  const telemetry = deps.telemetry;
  return {
    catalog: telemetry ? telemetry.catalog(request, deps.catalog) : deps.catalog,
    sandbox: deps.sandboxClientFor(request),
    sessions: () =>
      (sessions ??= (async () => (telemetry ? telemetry.sessions(request, await deps.sessions(request)) : deps.sessions(request)))()),
    contexts: deps.contexts,
    logger,
    settings: deps.config,
    tenant,
    downloads: deps.downloads,
  };
}

/**
 * The default verifier, with jose loaded on the first access token: start-up pays only
 * for what every deployment serves (static tokens need none of it).
 */
function accessTokensOnFirstUse(options: JwtAccessTokenOptions): JwtAccessTokens {
  let loading: Promise<JwtAccessTokens> | undefined;
  let loaded: JwtAccessTokens | undefined;
  const load = () =>
    (loading ??= import('./auth/jwt-access-tokens.ts').then(({ createJwtAccessTokens }) => (loaded = createJwtAccessTokens(options))));
  return {
    verifyAccessToken: async (token) => (await load()).verifyAccessToken(token),
    // Only asked about a token verifyAccessToken accepted, so the verifier is loaded.
    tenantOf: (auth) => loaded!.tenantOf(auth),
  };
}

/**
 * The MCP server as one Hono app: the HTTP edge (auth, guards, body limits, one error
 * model) in front of /mcp, /invoke, legacy SSE and the health routes, each MCP request
 * served by a new McpServer. `deps` holds everything it talks to (createAppDeps builds
 * them from the settings; tests pass fakes); it keeps no state of its own.
 *
 * @example
 * const config = loadConfig(process.env, process.argv.slice(2));
 * const logger = createLogger({ level: config.logLevel });
 * const app = createApp(createAppDeps(config, logger));
 * const listener = await listenHttp(app, config.host, config.port);
 */
export function createApp(deps: AppDeps): Hono<Env> {
  const { config, logger } = deps;
  const app = new Hono<Env>();
  const path = config.path;
  const serverDeps = (request: Request, requestLogger: Logger, tenant: Tenant) => mcpServerDepsFor(deps, request, requestLogger, tenant);
  const oauth = config.oauth;
  const auth = createCallerAuth({
    tokens: config.authTokens,
    oauth: oauth && {
      verifier: deps.accessTokens ?? accessTokensOnFirstUse({ issuer: oauth.issuer, audience: oauth.audience }),
      requiredScopes: oauth.scopes,
      resourceMetadataUrl: protectedResourceMetadataUrl(oauth.resource),
    },
    logger,
  });

  // FC's request id when there is one, so our lines join FC's own logs.
  app.use(requestId({ generator: (c) => c.req.header('x-fc-request-id') ?? crypto.randomUUID() }));
  if (isLoopbackHost(config.host)) app.use(localOnly());

  app.route('/', createHealthRoutes({ sandboxClientFor: deps.sandboxClientFor }));
  if (oauth) app.route('/', createProtectedResourceRoutes({ resource: oauth.resource, issuer: oauth.issuer, scopes: oauth.scopes, path }));

  const guarded = config.transport === 'sse' ? [path, INVOKE_PATH, '/sse', '/messages'] : [path, INVOKE_PATH];
  app.use(
    path,
    cors({
      origin: '*',
      allowMethods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
      allowHeaders: [
        'Content-Type',
        'Authorization',
        'Accept',
        'Last-Event-ID',
        'mcp-session-id',
        'mcp-protocol-version',
        'mcp-method',
        'mcp-name',
      ],
      exposeHeaders: ['mcp-session-id', 'mcp-protocol-version', 'WWW-Authenticate'],
      maxAge: 86400,
    }),
  );
  if (deps.telemetry) app.use(path, deps.telemetry.markArrival);
  // Each tenant's requests in progress in this process (MCP_MAX_REQUESTS_PER_TENANT), on every guarded path.
  const requests = createTenantRequests(config.maxRequestsPerTenant, { refusalDelayMs: config.refusalDelayMs });
  const tooManyRequests = limitTenantRequests(requests, (tenant, max) => errors.tooManyRequests(tenant.id, max));
  // Each tenant's large requests one at a time (large-bodies.ts): their bytes cost every tenant's event loop.
  const inTurn = takeLargeBodiesInTurn(createLargeBodyLanes(), config.maxBodyBytes, (tenant) =>
    errors.largeBodiesWaiting(tenant.id, MAX_LARGE_BODIES_WAITING, LARGE_BODY_BYTES),
  );
  for (const guardedPath of guarded) {
    // /invoke also takes its credential from the event: its route checks it (with the same auth), and the cap after it.
    if (guardedPath !== INVOKE_PATH) app.use(guardedPath, bearer(auth), tooManyRequests);
    const tooLarge = () => errors.tooLarge(config.maxBodyBytes, guardedPath === INVOKE_PATH ? 'the event' : undefined);
    app.use(guardedPath, limitBody(config.maxBodyBytes, tooLarge));
    if (guardedPath !== INVOKE_PATH) app.use(guardedPath, inTurn);
  }

  if (deps.telemetry) {
    app.use(path, deps.telemetry.traceRequests);
    // An FC event is one MCP request too (its credential is checked inside the route, so no auth span).
    app.use(INVOKE_PATH, deps.telemetry.traceRequests);
  }
  app.route(path, createMcpRoute({ maxBodyBytes: config.maxBodyBytes, logger, serverDeps }));
  // FC events (s invoke, s local invoke, InvokeFunction): the same tools and auth, plain JSON.
  app.route(INVOKE_PATH, createInvokeRoute({ auth, logger, serverDeps, requests }));

  if (config.transport === 'sse') {
    // Loaded on first use: start-up pays only for what every deployment serves.
    let legacy: Promise<LegacySseRoutes> | undefined;
    const load = () =>
      (legacy ??= import('./http/legacy-sse-route.ts').then(({ createLegacySseRoutes }) =>
        createLegacySseRoutes({ logger, serverDeps: (request, tenant) => serverDeps(request, logger, tenant), telemetry: deps.telemetry }),
      ));
    app.get('/sse', async (c) => (await load()).connect(c.req.raw, c.get('tenant')));
    app.post('/messages', async (c) => (await load()).message(c.req.raw, c.get('tenant')));
  }

  app.notFound((c) => errors.notFound(c.req.method, c.req.path, `the MCP endpoint is POST ${path}`));
  app.onError((error, c) => {
    if (error instanceof HTTPException) return error.getResponse();
    logger.error('unhandled error', { request_id: c.get('requestId'), error: error.stack ?? String(error) });
    return errors.internal();
  });
  return app;
}

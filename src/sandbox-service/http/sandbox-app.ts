/**
 * The HTTP face of the sandbox service: E2B's code-interpreter API (see
 * src/protocol/sandbox-api.ts) over a ContextRegistry. Requests are validated with the
 * protocol's zod schemas; refusals are plain-text bodies with a precise status.
 */
import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { Hono, type Context as HonoContext } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { LINGER_LIMITS, LINGER_MS, limitBody } from '../../shared/body-limit.ts';
import { lingeringRefusal } from '../../shared/lingering-close.ts';
import { foreignHeader, isLoopbackHost } from '../../shared/local-request.ts';
import { describeIssues } from '../../shared/zod-issues.ts';
import type { z } from 'zod';
import {
  type Context,
  type ContextList,
  CONTEXT_NETWORK_ROUTE,
  CreateContextRequest,
  ExecuteRequest,
  NetworkPolicy,
  SESSION_ID_PATTERN,
  SESSION_ID_RULE,
  FILE_ROUTES,
  InstallPackagesRequest,
  PACKAGES_ROUTE,
  SESSIONS_ROUTE,
  type SessionList,
} from '../../protocol/sandbox-api.ts';
import { PackageInstaller } from '../packages/package-installer.ts';
import { addFileRoutes, filesBodyLimit } from './file-routes.ts';
import type { CodeContext } from '../contexts/code-context.ts';
import { DEFAULT_SESSION, type ContextRegistry } from '../contexts/context-registry.ts';
import { Refusal, refusalResponse } from '../refusal.ts';
import { Runs } from '../contexts/executions.ts';
import { NdjsonResponse } from './ndjson-response.ts';
import { addRunRoutes } from './run-routes.ts';
import { addAgentRunRoutes } from './agentrun-routes.ts';
import { SessionCommands } from '../contexts/session-commands.ts';
import { watchWorkspace } from '../files/workspace-changes.ts';
import type { SandboxOptions } from '../settings.ts';
import type { SandboxTelemetry } from '../telemetry/types.ts';
import { yieldIfLarge } from '../../shared/yield-to-loop.ts';

const NDJSON_HEADERS = {
  'Content-Type': 'application/x-ndjson; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
};

export interface SandboxAppDeps {
  registry: ContextRegistry;
  options: SandboxOptions;
  /** Spans and metrics (telemetry/load-telemetry.ts), when an OTLP endpoint is set. @default undefined (off) */
  telemetry?: SandboxTelemetry;
}

/** SHA-256 of a string, hex (the form Hono's timingSafeEqual compares). */
const sha256Hex = (value: string) => createHash('sha256').update(value).digest('hex');

export function createSandboxApp({ registry, options, telemetry }: SandboxAppDeps): Hono {
  const app = new Hono();
  // First, so that refusals are traced and counted too.
  if (telemetry) app.use('*', telemetry.traceRequests);

  const sessionOf = (c: HonoContext): string => {
    const value = c.req.header(options.sessionHeader);
    if (value === undefined || value === '') return DEFAULT_SESSION;
    if (!SESSION_ID_PATTERN.test(value)) {
      throw new Refusal('invalid_request', `invalid ${options.sessionHeader} header: use ${SESSION_ID_RULE}`);
    }
    return value;
  };

  const maxUploadBytes = options.maxUploadMb * 1024 * 1024;
  // A refusal before the body was all read (an upload, which streams past the body limit) is
  // sent with a lingering close: the rest is read and dropped within bounds, never for as
  // long as the client sends, and the client reads the answer rather than a reset.
  app.onError((error, c) => {
    const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming;
    if (!incoming || incoming.complete) return refusalResponse(error);
    return lingeringRefusal(c, refusalResponse(error), { ms: LINGER_MS, bytes: LINGER_LIMITS * maxUploadBytes });
  });

  // A browser page can post here without a preflight (text/plain, no-cors) or reach a
  // loopback bind under its own name (DNS rebinding): refuse both before anything runs.
  app.use('*', async function webPageGuard(c, next) {
    const foreign = foreignHeader(
      { host: c.req.header('host') ?? new URL(c.req.url).host, origin: c.req.header('origin') },
      { checkHost: isLoopbackHost(options.host) },
    );
    if (foreign) {
      return new Refusal(
        'forbidden',
        `${foreign.header} "${foreign.value}" is not local: the sandbox API answers no web page`,
      ).getResponse();
    }
    const hasBody = Number(c.req.header('content-length') ?? 0) > 0 || c.req.header('transfer-encoding') !== undefined;
    const type = c.req.header('content-type');
    const upload = c.req.path === FILE_ROUTES.upload;
    if (hasBody && !(upload ? isMultipart(type) : isJsonContentType(type))) {
      const expected = upload ? 'multipart/form-data' : 'application/json';
      return new Refusal(
        'unsupported_media_type',
        `request bodies here must be ${expected}, got ${type ?? 'no content-type'}`,
      ).getResponse();
    }
    await next();
  });

  const limit = (maxSize: number, what: string) =>
    limitBody(maxSize, () => new Refusal('too_large', `request body too large (limit ${maxSize} bytes${what})`).getResponse());
  // Files have limits of their own: an upload is counted as it streams (file-routes.ts), POST /files by its base64.
  const generalLimit = limit(options.maxBodyBytes, '');
  const filesLimit = limit(filesBodyLimit(maxUploadBytes), ': a file of at most SANDBOX_MAX_UPLOAD_MB, base64-encoded');
  app.use('*', async (c, next) => {
    if (c.req.path === FILE_ROUTES.upload) return next();
    return (c.req.path === FILE_ROUTES.files ? filesLimit : generalLimit)(c, next);
  });

  app.get('/health', (c) => c.json('OK'));

  if (options.apiToken !== undefined) {
    app.use(
      '*',
      bearerAuth({
        token: options.apiToken,
        headerName: 'X-Access-Token',
        prefix: '',
        noAuthenticationHeader: { message: 'this sandbox requires its API token in the X-Access-Token header' },
        invalidAuthenticationHeader: { message: 'the X-Access-Token header is malformed' },
        invalidToken: { message: 'the X-Access-Token header holds the wrong token' },
        // Hono compares the digests (and the strings) in constant time either way; its default
        // digest is WebCrypto's, an asynchronous job per side (about 85 µs of CPU a check, and
        // every MCP call makes at least one): Node's own SHA-256 gives the same digest at once.
        hashFunction: sha256Hex,
      }),
    );
  }

  app.post('/contexts', async (c) => {
    const session = sessionOf(c);
    const body = await parseBody(c, CreateContextRequest);
    const context = await registry.create(session, {
      language: body.language ?? 'python',
      cwd: body.cwd,
      metadata: body.metadata,
      quota: body.quota,
      network: body.allowOut || body.denyOut ? { allowOut: body.allowOut, denyOut: body.denyOut } : undefined,
    });
    // A caller that left while its kernel started (its timeout: the MCP side gives up after 15 s)
    // never learns the id: the context is undone, not left holding a kernel, a uid and a place in
    // its tenant's quota until the idle timeout.
    if (c.req.raw.signal.aborted) {
      await registry.delete(session, context.id).catch(() => {});
      return new Response(null, { status: 499 }); // nginx's "client closed request": nobody reads it
    }
    return c.json(context.toJSON() satisfies Context);
  });

  app.put(CONTEXT_NETWORK_ROUTE, async (c) => {
    const body = await parseBody(c, NetworkPolicy);
    const context = registry.setNetwork(sessionOf(c), c.req.param('id'), body);
    return c.json(context.toJSON() satisfies Context);
  });

  app.get('/contexts', (c) => c.json(registry.listed(sessionOf(c)) satisfies z.input<typeof ContextList>));

  app.post('/contexts/:id/restart', async (c) => {
    await (await registry.resolve(sessionOf(c), c.req.param('id'))).restart();
    return c.body(null, 200);
  });

  app.delete('/contexts/:id', async (c) => {
    await registry.delete(sessionOf(c), c.req.param('id'));
    return c.body(null, 200);
  });

  app.get(SESSIONS_ROUTE, (c) => c.json(registry.sessionNames() satisfies z.input<typeof SessionList>));

  addFileRoutes(app, {
    registry,
    sessionOf,
    parseBody,
    maxUploadBytes,
    maxReadBytes: options.maxReadMb * 1024 * 1024,
  });

  const runs = new Runs({
    deleteContext: (session, id) => registry.delete(session, id),
    workspaceChanges: async (session) => watchWorkspace(() => registry.files(session)),
    outputLimitBytes: options.outputLimitBytes,
    telemetry,
    limits: {
      maxQueuedRuns: options.maxQueuedRuns,
      maxSessionRuns: options.maxSessionRuns,
      queuedCodeBytes: options.queuedCodeMb * 1024 * 1024,
    },
  });
  addRunRoutes(app, { runs, sessionOf, parseBody });
  const commands = new SessionCommands({
    jailFor: (session, open) => registry.commandJail(session, { open }),
    outputLimitBytes: options.outputLimitBytes,
  });
  addAgentRunRoutes(app, { registry, runs, commands, options, sessionOf, parseBody });

  const installer = new PackageInstaller({ commands, indexes: options, memoryMb: options.memoryMb });
  app.post(PACKAGES_ROUTE, async (c) => {
    const session = sessionOf(c);
    const request = await parseBody(c, InstallPackagesRequest);
    const context = await registry.resolve(session, c.req.param('id'));
    const timeoutSeconds = Math.min(request.timeout ?? options.executeTimeoutSeconds, options.maxExecuteTimeoutSeconds);
    return c.json(await installer.install(session, context, { ...request, timeoutMs: timeoutSeconds * 1000 }));
  });

  app.post('/execute', async (c) => {
    const session = sessionOf(c);
    const request = await parseBody(c, ExecuteRequest);
    if (request.context_id !== undefined && request.language !== undefined) {
      throw new Refusal('invalid_request', 'give either context_id or language, not both');
    }
    const timeoutSeconds = Math.min(request.timeout ?? options.executeTimeoutSeconds, options.maxExecuteTimeoutSeconds);
    const context: CodeContext =
      request.context_id !== undefined
        ? await registry.resolve(session, request.context_id)
        : await registry.defaultContext(session, request.language ?? 'python');

    const refusal = runs.refusal(session, context, request.code);
    if (refusal) return new Refusal('too_many_runs', refusal).getResponse();
    // The run outlives this handler: it streams into the Node response itself (ndjson-response.ts).
    let run: { streamGone(): void } | undefined;
    const body = new NdjsonResponse(outgoingOf(c), NDJSON_HEADERS, () => run?.streamGone());
    run = runs.start(
      session,
      context,
      {
        code: request.code,
        timeoutMs: timeoutSeconds * 1000,
        outputLimitBytes: options.outputLimitBytes,
        outputLimitEvents: options.maxOutputEvents,
        envVars: request.env_vars,
        tag: request.tag,
        holdAfterMs: request.hold_after === undefined ? undefined : request.hold_after * 1000,
        discardContext: request.discard_context,
        reportFiles: request.report_files,
        keepaliveMs: options.keepaliveSeconds * 1000,
      },
      body,
    );
    return RESPONSE_ALREADY_SENT;
  });

  return app;
}

function isJsonContentType(value: string | undefined): boolean {
  return value !== undefined && /^application\/json\s*(;|$)/i.test(value.trim());
}

function isMultipart(value: string | undefined): boolean {
  return value !== undefined && /^multipart\/form-data\s*;/i.test(value.trim());
}

/**
 * The Node response under the request: /execute streams into it directly (see
 * ndjson-response.ts), so the app must be served by @hono/node-server, as startSandbox does.
 */
function outgoingOf(c: HonoContext): ServerResponse {
  const outgoing = (c.env as Partial<HttpBindings> | undefined)?.outgoing;
  if (!outgoing) throw new Error('the sandbox app must be served by @hono/node-server (no Node response to stream to)');
  return outgoing;
}

/** Parses a JSON body (an empty one counts as `{}`) with a protocol schema; 400 naming every issue otherwise. */
async function parseBody<S extends z.ZodType>(c: HonoContext, schema: S): Promise<z.output<S>> {
  const text = await c.req.text();
  let raw: unknown = {};
  if (text.trim() !== '') {
    // Decoding, parsing and what follows, each in a task of its own for a large body (yield-to-loop.ts).
    await yieldIfLarge(text.length);
    try {
      raw = JSON.parse(text);
    } catch {
      throw new Refusal('invalid_request', 'request body is not valid JSON');
    }
    await yieldIfLarge(text.length);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new Refusal('invalid_request', `invalid request: ${describeIssues(parsed.error, 'body')}`);
  return parsed.data;
}

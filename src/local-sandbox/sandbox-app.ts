/**
 * The HTTP face of the embedded sandbox: E2B's code-interpreter API (see
 * src/sandbox/protocol.ts) over a ContextRegistry. Requests are validated with the
 * protocol's zod schemas; refusals are plain-text bodies with a precise status.
 */
import { Hono, type Context as HonoContext } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { stream } from 'hono/streaming';
import type { z } from 'zod';
import {
  CreateContextRequest,
  ExecuteRequest,
  formatExecutionEvent,
  type ExecutionEvent,
} from '../sandbox/protocol.ts';
import type { CodeContext } from './code-context.ts';
import { ContextRequestError, DEFAULT_SESSION, type ContextRegistry } from './context-registry.ts';
import type { SandboxOptions } from './options.ts';

/** A session header value becomes a directory name: keep it to a safe alphabet. */
const SESSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const MAX_BODY_BYTES = 8 * 1024 * 1024;

export interface SandboxAppDeps {
  registry: ContextRegistry;
  options: SandboxOptions;
}

export function createSandboxApp({ registry, options }: SandboxAppDeps): Hono {
  const app = new Hono();

  const sessionOf = (c: HonoContext): string => {
    const value = c.req.header(options.sessionHeader);
    if (value === undefined || value === '') return DEFAULT_SESSION;
    if (!SESSION_PATTERN.test(value)) {
      throw new ContextRequestError(
        400,
        `invalid ${options.sessionHeader} header: use 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit`,
      );
    }
    return value;
  };

  app.onError((error, c) => {
    if (error instanceof ContextRequestError) return c.text(error.message, error.status);
    if (error instanceof BadRequest) return c.text(error.message, 400);
    console.error('sandbox: unexpected error', error);
    return c.text(`internal error: ${error.message}`, 500);
  });

  app.use(
    '*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => c.text(`request body too large (limit ${MAX_BODY_BYTES} bytes)`, 413),
    }),
  );

  app.get('/health', (c) => c.json('OK'));

  app.post('/contexts', async (c) => {
    const session = sessionOf(c);
    const body = await parseBody(c, CreateContextRequest);
    const context = await registry.create(session, {
      language: body.language ?? 'python',
      cwd: body.cwd,
      metadata: body.metadata,
    });
    return c.json(context.toJSON());
  });

  app.get('/contexts', (c) => c.json(registry.list(sessionOf(c)).map((context) => context.toJSON())));

  app.post('/contexts/:id/restart', async (c) => {
    await registry.get(sessionOf(c), c.req.param('id')).restart();
    return c.body(null, 200);
  });

  app.delete('/contexts/:id', async (c) => {
    await registry.delete(sessionOf(c), c.req.param('id'));
    return c.body(null, 200);
  });

  app.post('/execute', async (c) => {
    const session = sessionOf(c);
    const body = await parseBody(c, ExecuteRequest);
    if (body.context_id !== undefined && body.language !== undefined) {
      throw new BadRequest('give either context_id or language, not both');
    }
    const timeoutSeconds = Math.min(body.timeout ?? options.executeTimeoutSeconds, options.maxExecuteTimeoutSeconds);
    const context: CodeContext =
      body.context_id !== undefined
        ? registry.get(session, body.context_id)
        : await registry.defaultContext(session, body.language ?? 'python');

    c.header('Content-Type', 'application/x-ndjson; charset=utf-8');
    c.header('Cache-Control', 'no-store');
    c.header('X-Content-Type-Options', 'nosniff');
    return stream(c, async (out) => {
      const gone = new AbortController();
      out.onAbort(() => gone.abort());
      c.req.raw.signal?.addEventListener('abort', () => gone.abort(), { once: true });

      // Events go out in order through one chain of writes; keepalives fill the silences.
      let writing: Promise<unknown> = Promise.resolve();
      let lastWrite = Date.now();
      const send = (event: ExecutionEvent) => {
        lastWrite = Date.now();
        const line = formatExecutionEvent(event);
        writing = writing.then(() => (gone.signal.aborted ? undefined : out.write(line))).catch(() => gone.abort());
      };
      const keepaliveMs = options.keepaliveSeconds * 1000;
      const keepalive = setInterval(() => {
        if (Date.now() - lastWrite >= keepaliveMs) send({ type: 'keepalive' });
      }, Math.max(keepaliveMs / 4, 50));

      try {
        await context.execute({
          code: body.code,
          timeoutMs: timeoutSeconds * 1000,
          outputLimitBytes: options.outputLimitBytes,
          envVars: body.env_vars,
          signal: gone.signal,
          emit: send,
        });
      } catch (error) {
        // The context was deleted or lost while this request waited for it.
        send({ type: 'error', name: 'ContextError', value: (error as Error).message, traceback: '' });
      } finally {
        clearInterval(keepalive);
        send({ type: 'end_of_execution' });
        await writing;
      }
    });
  });

  return app;
}

class BadRequest extends Error {}

/** Parses a JSON body (an empty one counts as `{}`) with a protocol schema; 400 with the first issue otherwise. */
async function parseBody<S extends z.ZodType>(c: HonoContext, schema: S): Promise<z.output<S>> {
  const text = await c.req.text();
  let raw: unknown = {};
  if (text.trim() !== '') {
    try {
      raw = JSON.parse(text);
    } catch {
      throw new BadRequest('request body is not valid JSON');
    }
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    throw new BadRequest(`invalid request: ${where}${issue.message}`);
  }
  return parsed.data;
}

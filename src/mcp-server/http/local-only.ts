/**
 * `localOnly()`: on a loopback bind, a browser page elsewhere could still reach us
 * through DNS rebinding (evil.example resolving to 127.0.0.1) or by posting
 * cross-site: refuse requests whose Host or Origin is not local. The decision is
 * src/shared/local-request.ts's, shared with the sandbox service's API; this is the
 * MCP edge's middleware around it, answering in the edge's error shape.
 *
 * @example if (isLoopbackHost(config.host)) app.use(localOnly())
 */
import type { MiddlewareHandler } from 'hono';
import { foreignHeader } from '../../shared/local-request.ts';
import { errors } from './errors.ts';

export function localOnly(): MiddlewareHandler {
  return async function localOnly(c, next) {
    // Node's server builds the URL from the Host header; an in-process request has only the URL.
    const foreign = foreignHeader({ host: c.req.header('host') ?? new URL(c.req.url).host, origin: c.req.header('origin') });
    if (foreign) return errors.notLocal(foreign.header, foreign.value);
    await next();
  };
}

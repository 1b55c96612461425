/**
 * `localOnly()`: on a loopback bind, a browser page elsewhere could still reach us
 * through DNS rebinding (evil.example resolving to 127.0.0.1): refuse requests
 * whose Host or Origin is not local. Hand-written because Hono ships no host check
 * and the SDK's (`hostHeaderValidationResponse`) compares exact host names, with
 * no Origin check for "null" and 127.0.0.0/8.
 *
 * @example if (isLoopbackHost(config.host)) app.use(localOnly())
 */
import type { MiddlewareHandler } from 'hono';
import { isLoopbackHost } from '../config.ts';
import { errors } from './errors.ts';

function hostnameOf(value: string): string | undefined {
  try {
    return new URL(value.includes('://') ? value : `http://${value}`).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return undefined;
  }
}

export function localOnly(): MiddlewareHandler {
  return async function localOnly(c, next) {
    // Node's server builds the URL from the Host header; an in-process request has only the URL.
    const hostHeader = c.req.header('host') ?? new URL(c.req.url).host;
    const host = hostnameOf(hostHeader);
    if (!host || !isLoopbackHost(host)) return errors.notLocal('Host', hostHeader);
    const origin = c.req.header('origin');
    if (origin !== undefined) {
      const originHost = origin === 'null' ? undefined : hostnameOf(origin);
      if (!originHost || !isLoopbackHost(originHost)) return errors.notLocal('Origin', origin);
    }
    await next();
  };
}

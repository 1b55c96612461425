/**
 * `limitBody(maxBytes, refuse)`: the one body limit of every app (the MCP edge and the
 * sandbox API). hono/body-limit refuses a `Content-Length` over the limit before
 * reading anything, and counts a chunked body as it arrives; either way the refusal
 * that `refuse` shapes is sent with a lingering close (lingering-close.ts), so the
 * client reads it instead of a reset connection.
 *
 * @example app.use('/mcp', limitBody(4 * 1024 * 1024, () => errors.tooLarge(4 * 1024 * 1024)))
 */
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { type LingerBounds, lingeringRefusal } from './lingering-close.ts';

/** How long, and how much more than the limit, the rest of a refused body is read. */
export const LINGER_MS = 5_000;
export const LINGER_LIMITS = 16;

export function limitBody(
  maxBytes: number,
  refuse: (c: Context) => Response,
  linger: LingerBounds = { ms: LINGER_MS, bytes: LINGER_LIMITS * maxBytes },
): MiddlewareHandler {
  return bodyLimit({ maxSize: maxBytes, onError: (c) => lingeringRefusal(c, refuse(c), linger) });
}

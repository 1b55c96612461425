/**
 * `limitBody(maxBytes)`: hono/body-limit (counts the bytes of chunked bodies too)
 * answering 413 in the edge's error shape.
 *
 * @example app.use('/mcp', limitBody(4 * 1024 * 1024))
 */
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { errors } from './errors.ts';

export function limitBody(maxBytes: number, what?: string): MiddlewareHandler {
  return bodyLimit({ maxSize: maxBytes, onError: () => errors.tooLarge(maxBytes, what) });
}

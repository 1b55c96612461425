/**
 * `bearer(tokens)`: hono/bearer-auth with its refusals in the edge's one error shape: a
 * JSON-RPC body and a `WWW-Authenticate` challenge, the same on /mcp, /invoke and the
 * SSE routes.
 *
 * The comparison is ours (`verifyToken`): the configured tokens are hashed once, the
 * presented one once per request, and every digest is compared in constant time
 * without stopping at a match. Hono's default hashes both sides of every comparison
 * with WebCrypto, asynchronously, on every request (a measurable share of a tools/list).
 *
 * @example app.use('/mcp', bearer(['tok-one', 'tok-two']))
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { errors } from './errors.ts';

export const REALM = 'mcp';

const digest = (token: string) => createHash('sha256').update(token).digest();

/** Whether `presented` is one of `tokens`, in time independent of which (or whether) it matches. */
export function tokenMatcher(tokens: readonly string[]): (presented: string) => boolean {
  const known = tokens.map(digest);
  return (presented) => {
    const given = digest(presented);
    let match = false;
    for (const token of known) match = timingSafeEqual(token, given) || match;
    return match;
  };
}

export function bearer(tokens: readonly string[]): MiddlewareHandler {
  const challenge = `Bearer realm="${REALM}"`;
  const matches = tokenMatcher(tokens);
  return bearerAuth({
    verifyToken: (token) => matches(token),
    realm: REALM,
    noAuthenticationHeader: { message: () => errors.unauthorized('no credential; send "Authorization: Bearer <token>"', challenge) },
    invalidAuthenticationHeader: { message: () => errors.badAuthorization(`Bearer error="invalid_request"`) },
    invalidToken: {
      message: () => errors.unauthorized('the bearer token is not valid', `Bearer realm="${REALM}", error="invalid_token"`),
      wwwAuthenticateHeader: `Bearer realm="${REALM}", error="invalid_token"`,
    },
  });
}

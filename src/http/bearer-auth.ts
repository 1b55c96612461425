/**
 * `bearer(tokens)`: hono/bearer-auth (timing-safe compare against a list of named
 * tokens) with its refusals in the edge's one error shape: a JSON-RPC body and a
 * `WWW-Authenticate` challenge, the same on /mcp, /invoke and the SSE routes.
 *
 * @example app.use('/mcp', bearer(['tok-one', 'tok-two']))
 */
import type { MiddlewareHandler } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { errors } from './errors.ts';

export const REALM = 'mcp';

export function bearer(tokens: readonly string[]): MiddlewareHandler {
  const challenge = `Bearer realm="${REALM}"`;
  return bearerAuth({
    token: [...tokens],
    realm: REALM,
    noAuthenticationHeader: { message: () => errors.unauthorized('no credential; send "Authorization: Bearer <token>"', challenge) },
    invalidAuthenticationHeader: { message: () => errors.badAuthorization(`Bearer error="invalid_request"`) },
    invalidToken: {
      message: () => errors.unauthorized('the bearer token is not valid', `Bearer realm="${REALM}", error="invalid_token"`),
      wwwAuthenticateHeader: `Bearer realm="${REALM}", error="invalid_token"`,
    },
  });
}

/**
 * The HTTP edge's authentication: who the caller is (its tenant), decided once per
 * request and put on the Hono context as `tenant`.
 *
 *   - no auth configured (loopback, MCP_ALLOW_UNAUTHENTICATED): the anonymous tenant;
 *   - a static token (MCP_AUTH_TOKEN, `name:token`): matched first, in constant time
 *     (src/mcp-server/auth/static-tokens.ts); its name is the tenant;
 *   - otherwise, with MCP_OAUTH_ISSUER: an OAuth 2.1 access token, checked by the MCP
 *     SDK's `verifyBearerToken` (scopes, expiry) around our jose verifier
 *     (src/mcp-server/auth/jwt-access-tokens.ts); its subject is the tenant.
 *
 * Refusals keep the edge's one error shape (a JSON-RPC body, src/mcp-server/http/errors.ts) and
 * carry the challenge a client needs: `WWW-Authenticate: Bearer …` with, under OAuth,
 * `resource_metadata` (RFC 9728), `error="invalid_token"` or a 403 `insufficient_scope`
 * with `scope=`, formatted by the SDK's `bearerAuthChallengeResponse`.
 *
 * Not hono/bearer-auth nor the SDK's `requireBearerAuth`: the first answers only
 * "valid or not" per token (no tenant, no 403 scope challenge), the second knows no
 * static tokens and answers in OAuth's error JSON; and /invoke takes its credential
 * from the event as well, so the decision must be callable outside a middleware.
 *
 * @example app.use('/mcp', bearer(createCallerAuth({ tokens, logger })))
 */
import { bearerAuthChallengeResponse, OAuthError, OAuthErrorCode, verifyBearerToken } from '@modelcontextprotocol/server';
import type { MiddlewareHandler } from 'hono';
import type { JwtAccessTokens } from '../auth/jwt-access-tokens.ts';
import { tokenMatcher, type StaticToken } from '../auth/static-tokens.ts';
import { ANONYMOUS_TENANT, type Tenant } from '../auth/tenant.ts';
import type { Logger } from '../../shared/logger.ts';
import { errors } from './errors.ts';

export const REALM = 'mcp';

/** What the edge's middlewares and routes read from the Hono context. */
export type TenantVariables = { tenant: Tenant };

export interface OAuthResourceServer {
  verifier: JwtAccessTokens;
  /** Scopes every token must carry (MCP_OAUTH_SCOPES). */
  requiredScopes: string[];
  /** This resource's RFC 9728 metadata URL, advertised in every challenge. */
  resourceMetadataUrl: string;
}

export interface CallerAuthOptions {
  tokens: readonly StaticToken[];
  oauth?: OAuthResourceServer;
  logger: Logger;
}

export type Verdict = { tenant: Tenant } | { refusal: Response };

export interface CallerAuth {
  /** Whether a request must bring a credential (false: every caller is the anonymous tenant). */
  required: boolean;
  /** Who presents `token`, or the refusal to answer with. */
  verify(token: string): Promise<Verdict>;
  /** The 401 for a request without a credential; `how` tells the client how to send one. */
  missing(how: string): Response;
}

const quoted = (value: string) => `"${value.replaceAll(/[\\"]/g, '\\$&')}"`;

export function createCallerAuth(options: CallerAuthOptions): CallerAuth {
  const { oauth, logger } = options;
  const matchStatic = tokenMatcher(options.tokens);
  const scopes = oauth?.requiredScopes ?? [];
  let missingChallenge = `Bearer realm="${REALM}"`;
  if (oauth) {
    missingChallenge += `, resource_metadata=${quoted(oauth.resourceMetadataUrl)}`;
    if (scopes.length > 0) missingChallenge += `, scope=${quoted(scopes.join(' '))}`;
  }

  return {
    required: options.tokens.length > 0 || oauth !== undefined,
    missing: (how) => errors.unauthorized(`no credential; ${how}`, missingChallenge),
    async verify(token) {
      const tenant = matchStatic(token);
      if (tenant) return { tenant };
      if (!oauth) {
        return { refusal: errors.unauthorized('the bearer token is not valid', `Bearer realm="${REALM}", error="invalid_token"`) };
      }
      const settings = { requiredScopes: scopes, resourceMetadataUrl: oauth.resourceMetadataUrl };
      try {
        const info = await verifyBearerToken(`Bearer ${token}`, { verifier: oauth.verifier, ...settings });
        return { tenant: oauth.verifier.tenantOf(info) };
      } catch (error) {
        if (error instanceof OAuthError && error.code === OAuthErrorCode.ServerError) {
          logger.warn('access token not verifiable', { error: error.message });
          return { refusal: errors.unavailable('the access token cannot be verified now (the authorization server is unreachable)') };
        }
        const challenge = bearerAuthChallengeResponse(error, settings).headers.get('www-authenticate') ?? missingChallenge;
        const detail = error instanceof Error ? error.message : String(error);
        // A mistyped static token is verified as a JWT too: say that it matched neither.
        const reason = options.tokens.length > 0 ? `the bearer token is no configured token, and ${detail}` : detail;
        if (error instanceof OAuthError && error.code === OAuthErrorCode.InsufficientScope) {
          return { refusal: errors.insufficientScope(`the access token lacks a required scope (${scopes.join(' ')})`, challenge) };
        }
        return { refusal: errors.unauthorized(reason, challenge) };
      }
    },
  };
}

/** The token of an `Authorization: Bearer <token>` header (RFC 6750's b64token), or undefined. */
export function bearerToken(header: string): string | undefined {
  return /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(header)?.[1];
}

/**
 * Sets `tenant` from the Authorization header, or refuses the request. With
 * `headerOptional` (/invoke, whose event may carry the credential) a request without
 * the header passes with no tenant set, and the route decides.
 */
export function bearer(auth: CallerAuth, { headerOptional = false } = {}): MiddlewareHandler<{ Variables: TenantVariables }> {
  return async function bearer(c, next) {
    if (!auth.required) {
      c.set('tenant', ANONYMOUS_TENANT);
      return next();
    }
    const header = c.req.header('authorization');
    if (header === undefined) {
      if (headerOptional) return next();
      return auth.missing('send "Authorization: Bearer <token>"');
    }
    const token = bearerToken(header);
    if (token === undefined) return errors.badAuthorization(`Bearer error="invalid_request"`);
    const verdict = await auth.verify(token);
    if ('refusal' in verdict) return verdict.refusal;
    c.set('tenant', verdict.tenant);
    await next();
  };
}

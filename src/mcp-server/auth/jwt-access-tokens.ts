/**
 * `createJwtAccessTokens(options)`: verifies OAuth 2.1 access tokens that are JWTs,
 * for the MCP SDK's bearer-auth helpers (an `OAuthTokenVerifier`). The JOSE work is
 * jose's: the signature against the issuer's JWKS (`createRemoteJWKSet`: cached for
 * `jwksMaxAgeMs`, fetched again on an unknown `kid` at most once per
 * `jwksCooldownMs`), `iss`, `aud`, `exp`/`nbf` with a small clock tolerance, and
 * only asymmetric algorithms (never `none`, never an HMAC whose key would be public).
 * The JWKS location comes from the issuer's metadata, fetched on the first token,
 * so a cold start does not wait on the authorization server.
 */
import { OAuthError, OAuthErrorCode, type AuthInfo, type OAuthTokenVerifier } from '@modelcontextprotocol/server';
import { createRemoteJWKSet, errors as jose, jwtVerify, type JWTPayload } from 'jose';
import { discoverIssuer, type FetchLike } from './issuer-metadata.ts';
import type { Tenant } from './tenant.ts';

/** Signature algorithms an access token may use: public-key ones only. */
export const ACCEPTED_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

export interface JwtAccessTokenOptions {
  /** The authorization server (`iss` must equal it). */
  issuer: string;
  /** The resource identifier tokens must be issued for (`aud` must hold it). */
  audience: string;
  /** Clock skew tolerated on exp/nbf/iat, seconds. */
  clockToleranceSeconds?: number;
  /** The least time between two JWKS fetches caused by unknown `kid`s, ms (jose's cooldownDuration). */
  jwksCooldownMs?: number;
  /** How long fetched keys are trusted before they are fetched again, ms (jose's cacheMaxAge). */
  jwksMaxAgeMs?: number;
  /** After a failed metadata fetch, requests fail fast for this long before the next try, ms. */
  discoveryRetryMs?: number;
  /** For the metadata fetch (tests; jose fetches the JWKS itself). */
  fetch?: FetchLike;
}

export interface JwtAccessTokens extends OAuthTokenVerifier {
  /** The tenant of a token this verifier accepted: its issuer and subject. */
  tenantOf(auth: AuthInfo): Tenant;
}

/** Why a token was refused, in words for the client's error_description (no token content). */
function reasonFor(error: unknown): string | undefined {
  if (error instanceof jose.JWTExpired) return 'the access token has expired';
  if (error instanceof jose.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return 'the access token is not valid yet (nbf)';
    if (error.claim === 'iss') return 'the access token was issued by another issuer';
    if (error.claim === 'aud') return 'the access token was not issued for this resource (aud)';
    return `the access token's "${error.claim}" claim is not acceptable (${error.reason})`;
  }
  if (error instanceof jose.JWKSNoMatchingKey) return "the access token's signing key is not among the issuer's keys (kid)";
  if (error instanceof jose.JWKSMultipleMatchingKeys) return "the access token's signing key is ambiguous (kid)";
  if (error instanceof jose.JWSSignatureVerificationFailed) return "the access token's signature does not verify";
  if (error instanceof jose.JOSEAlgNotAllowed || error instanceof jose.JOSENotSupported) {
    return "the access token's signature algorithm is not accepted";
  }
  if (error instanceof jose.JWSInvalid || error instanceof jose.JWTInvalid) return 'the access token is not a valid JWT';
  return undefined;
}

function scopesOf(payload: JWTPayload): string[] {
  const { scope, scp } = payload as { scope?: unknown; scp?: unknown };
  if (typeof scope === 'string') return scope.split(' ').filter(Boolean);
  // Some providers (Azure AD, Okta) use `scp`, a list or a space-separated string.
  if (Array.isArray(scp)) return scp.filter((s): s is string => typeof s === 'string');
  if (typeof scp === 'string') return scp.split(' ').filter(Boolean);
  return [];
}

export function createJwtAccessTokens(options: JwtAccessTokenOptions): JwtAccessTokens {
  const tolerance = options.clockToleranceSeconds ?? 30;
  const retryMs = options.discoveryRetryMs ?? 10_000;
  let keys: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;
  let failure: { at: number; message: string } | undefined;

  const jwks = () => {
    if (keys) return keys;
    if (failure && performance.now() - failure.at < retryMs) {
      return Promise.reject(new Error(`${failure.message} (retrying shortly)`));
    }
    const pending = discoverIssuer(options.issuer, options.fetch).then(({ jwks_uri }) =>
      createRemoteJWKSet(new URL(jwks_uri), {
        cooldownDuration: options.jwksCooldownMs ?? 30_000,
        cacheMaxAge: options.jwksMaxAgeMs ?? 600_000,
        timeoutDuration: 5000,
      }),
    );
    keys = pending;
    pending.catch((error: unknown) => {
      keys = undefined;
      failure = { at: performance.now(), message: error instanceof Error ? error.message : String(error) };
    });
    return pending;
  };

  return {
    async verifyAccessToken(token) {
      let resolver: Awaited<ReturnType<typeof jwks>>;
      try {
        resolver = await jwks();
      } catch (error) {
        throw new OAuthError(OAuthErrorCode.ServerError, `the authorization server's metadata is unavailable: ${(error as Error).message}`);
      }
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, resolver, {
          issuer: options.issuer,
          audience: options.audience,
          algorithms: ACCEPTED_ALGORITHMS,
          clockTolerance: tolerance,
          requiredClaims: ['exp', 'sub'],
        }));
      } catch (error) {
        const reason = reasonFor(error);
        // Anything else is the key fetch failing (timeout, HTTP error, bad JSON): ours to report, not the token's fault.
        if (reason === undefined) {
          throw new OAuthError(OAuthErrorCode.ServerError, `the authorization server's keys are unavailable: ${(error as Error).message}`);
        }
        throw new OAuthError(OAuthErrorCode.InvalidToken, reason);
      }
      // The subject is the tenant: jose checks it is there, not what it is (an object would become "[object Object]").
      if (typeof payload.sub !== 'string' || payload.sub === '') {
        throw new OAuthError(OAuthErrorCode.InvalidToken, 'the access token\'s "sub" claim must be a non-empty string');
      }
      const { client_id: clientId, azp } = payload as { client_id?: unknown; azp?: unknown };
      return {
        token,
        clientId: typeof clientId === 'string' ? clientId : typeof azp === 'string' ? azp : '',
        scopes: scopesOf(payload),
        // jose accepted exp within the tolerance; the SDK checks expiry again without one.
        expiresAt: payload.exp! + tolerance,
        resource: URL.canParse(options.audience) ? new URL(options.audience) : undefined,
        extra: { sub: payload.sub, iss: payload.iss },
      };
    },
    tenantOf(auth) {
      return { id: String(auth.extra?.sub), source: 'oauth', issuer: String(auth.extra?.iss) };
    },
  };
}

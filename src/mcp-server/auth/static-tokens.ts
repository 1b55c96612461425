/**
 * Static bearer tokens (`MCP_AUTH_TOKEN`): `name:token` entries, comma-separated,
 * each naming the tenant that presents it. An unnamed token is a tenant of its own,
 * named by a short hash of the token so that logs never carry the token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { TOKEN_PATTERN, TOKEN_RULE } from '../../shared/bearer-token.ts';
import type { Tenant } from './tenant.ts';

export interface StaticToken {
  /** The tenant's name (given, or `token-<hash>`). */
  tenant: string;
  token: string;
}

// A token (RFC 6750's b64token, TOKEN_PATTERN) holds no ":", so `name:token` splits unambiguously.
const NAME = /^[A-Za-z0-9._@-]{1,64}$/;

const digest = (token: string) => createHash('sha256').update(token).digest();

/** The name of an unnamed token's tenant: 12 hex digits of its SHA-256, not reversible to the token. */
export function unnamedTenant(token: string): string {
  return `token-${digest(token).toString('hex').slice(0, 12)}`;
}

/** Parses MCP_AUTH_TOKEN's value; throws an Error whose message says what is wrong (never the token). */
export function parseStaticTokens(value: string | undefined): StaticToken[] {
  const entries = (value ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  const tokens: StaticToken[] = [];
  for (const [i, entry] of entries.entries()) {
    const colon = entry.indexOf(':');
    const name = colon === -1 ? undefined : entry.slice(0, colon).trim();
    const token = colon === -1 ? entry : entry.slice(colon + 1).trim();
    if (name !== undefined && !NAME.test(name)) {
      throw new Error(`entry ${i + 1}: a tenant name is 1-64 letters, digits and . _ @ - (write "name:token")`);
    }
    if (!TOKEN_PATTERN.test(token)) {
      throw new Error(`entry ${i + 1}: a token may only hold ${TOKEN_RULE}`);
    }
    if (tokens.some((t) => t.token === token)) throw new Error(`entry ${i + 1}: the same token is listed twice`);
    tokens.push({ tenant: name ?? unnamedTenant(token), token });
  }
  return tokens;
}

/**
 * Who presents `presented`, in time independent of which token (or whether any)
 * matches: the configured tokens are hashed once, the presented one once per call,
 * and every digest is compared in constant time without stopping at a match.
 */
export function tokenMatcher(tokens: readonly StaticToken[]): (presented: string) => Tenant | undefined {
  const known = tokens.map((t) => ({ digest: digest(t.token), tenant: { id: t.tenant, source: 'token' } as const }));
  return (presented) => {
    const given = digest(presented);
    let found: Tenant | undefined;
    for (const entry of known) {
      const match = timingSafeEqual(entry.digest, given);
      found = match ? entry.tenant : found;
    }
    return found;
  };
}

/**
 * Who a caller is: its tenant. The HTTP edge decides it once per request (a named
 * static token, an OAuth access token's subject, or nobody when no auth is
 * configured) and every layer below receives it; none derives it again.
 */

import { createHash } from 'node:crypto';

export interface Tenant {
  /**
   * The tenant's name, safe to log: a static token's name (or `token-<hash>` for an
   * unnamed one, never the token), an OAuth token's `sub`, or `anonymous`.
   */
  id: string;
  /** How the caller proved it: a static token, an OAuth access token, or not at all. */
  source: 'token' | 'oauth' | 'anonymous';
  /** For `oauth`: the token's issuer (`iss`), which scopes the subject. */
  issuer?: string;
}

/** The one tenant of a server without auth (loopback, stdio): everything behaves as one caller. */
export const ANONYMOUS_TENANT: Tenant = Object.freeze({ id: 'anonymous', source: 'anonymous' });

/**
 * A string that names the tenant uniquely across sources, for binding into context
 * ids: a static token named "alice" and an OAuth subject "alice" are different callers.
 */
export function tenantKey(tenant: Tenant): string {
  if (tenant.source === 'oauth') return `oauth:${tenant.issuer ?? ''}#${tenant.id}`;
  return `${tenant.source}:${tenant.id}`;
}

/**
 * A short, stable tag of the tenant for names the sandbox side keeps (session ids,
 * context metadata): the MCP side filters on it, and it shows no tenant name.
 */
export function tenantTag(tenant: Tenant): string {
  return tenantTagOfKey(tenantKey(tenant));
}

/** tenantTag from a tenantKey (context ids know the tenant by its key). */
export function tenantTagOfKey(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 12);
}

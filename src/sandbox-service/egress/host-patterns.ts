/**
 * Host patterns, as the operator's ceiling (SANDBOX_EGRESS_ALLOW), the private hosts
 * (SANDBOX_EGRESS_PRIVATE_HOSTS) and a context's allowOut/denyOut write them: a host name or
 * IP literal (`pypi.org`, `127.0.0.1`, `[::1]`), `*.example.com` (every name below
 * example.com, not example.com itself), or `*` (any host). Compared case-insensitively,
 * without a final dot or IPv6 brackets; never a scheme, port or path.
 */
import { canonicalHost } from '../../shared/public-address.ts';

/** `*`: any host. */
export const ANY_HOST = '*';

/** The pattern in its one written form, or undefined when it is none (a URL, a port, a lone `*.`). */
export function normalizePattern(text: string): string | undefined {
  const trimmed = text.trim().toLowerCase();
  if (trimmed === ANY_HOST) return ANY_HOST;
  if (trimmed.startsWith('*.')) {
    const domain = canonicalHost(trimmed.slice(2));
    return domain && !domain.includes(':') && !domain.includes('*') ? `*.${domain}` : undefined;
  }
  const host = canonicalHost(trimmed);
  return host && !host.includes('*') ? host : undefined;
}

/** Thrown for a pattern that is none; the message names it and says what a pattern is. */
export class HostPatternError extends Error {
  override name = 'HostPatternError';
}

export const PATTERN_RULE = 'a host name or IP address, "*.domain" or "*", without scheme, port or path';

/**
 * Normalises every pattern (duplicates dropped), or throws HostPatternError naming the first that
 * is none, after `where` when given (a schema that reports the path itself gives none).
 */
export function parsePatterns(patterns: readonly string[], where?: string): string[] {
  const parsed: string[] = [];
  for (const text of patterns) {
    const pattern = normalizePattern(text);
    if (!pattern) {
      const reason = `"${text.trim()}" is not a host pattern (${PATTERN_RULE})`;
      throw new HostPatternError(where === undefined ? reason : `${where}: ${reason}`);
    }
    if (!parsed.includes(pattern)) parsed.push(pattern);
  }
  return parsed;
}

/** A comma-separated list of patterns, as the variables hold them (blank entries skipped); errors name no variable (the schema does). */
export function parsePatternList(value: string): string[] {
  const entries = value.split(',').filter((entry) => entry.trim() !== '');
  return parsePatterns(entries);
}

/** The host as patterns compare it; undefined for no host. */
export function hostKeyOf(host: string): string | undefined {
  return canonicalHost(host.toLowerCase());
}

/** Does `pattern` (normalised) match `host` (as hostKeyOf gives it)? */
export function matchesHost(pattern: string, host: string): boolean {
  if (pattern === ANY_HOST) return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1));
  return pattern === host;
}

export function matchesAny(patterns: readonly string[], host: string): boolean {
  return patterns.some((pattern) => matchesHost(pattern, host));
}

/** Is every host `pattern` matches also matched by one of `ceiling`? */
export function patternWithin(pattern: string, ceiling: readonly string[]): boolean {
  return ceiling.some((limit) => {
    if (limit === ANY_HOST || limit === pattern) return true;
    if (pattern === ANY_HOST || !limit.startsWith('*.')) return false;
    // *.example.com covers a.example.com and *.a.example.com (and *.example.com, equal above).
    const bare = pattern.startsWith('*.') ? pattern.slice(2) : pattern;
    return bare.endsWith(limit.slice(1));
  });
}

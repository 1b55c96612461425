/**
 * Where an authorization server publishes its keys: its metadata document (RFC 8414
 * `/.well-known/oauth-authorization-server`, or OpenID Connect Discovery's
 * `/.well-known/openid-configuration`) names the `jwks_uri`. Tried in the order the
 * MCP authorization spec gives clients, so a server that works for a platform's
 * client works for us. jose verifies JWTs but does no discovery, hence this.
 */
import { isLoopbackHost } from '../../shared/local-request.ts';

export interface IssuerMetadata {
  issuer: string;
  jwks_uri: string;
  /** The document the metadata came from. */
  source: string;
}

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** The metadata URLs to try for an issuer, in order (RFC 8414 §3.1, OIDC Discovery §4). */
export function metadataUrls(issuer: string): string[] {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/+$/, '');
  const at = (pathname: string) => new URL(pathname, url.origin).href;
  if (path === '') return [at('/.well-known/oauth-authorization-server'), at('/.well-known/openid-configuration')];
  return [
    at(`/.well-known/oauth-authorization-server${path}`),
    at(`/.well-known/openid-configuration${path}`),
    at(`${path}/.well-known/openid-configuration`),
  ];
}

/** http:// only where nothing but this machine can answer (tests, local use). */
export function isAcceptableUrl(value: string): boolean {
  const url = new URL(value);
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && isLoopbackHost(url.hostname);
}

/**
 * Fetches the issuer's metadata; throws an Error naming what failed. The document's
 * `issuer` must be the configured one exactly (RFC 8414 §3.3): otherwise another
 * server's keys could be trusted for ours.
 */
export async function discoverIssuer(issuer: string, fetchImpl: FetchLike = fetch, timeoutMs = 5000): Promise<IssuerMetadata> {
  const tried: string[] = [];
  for (const url of metadataUrls(issuer)) {
    const response = await fetchImpl(url, {
      headers: { accept: 'application/json' },
      redirect: 'error',
      signal: AbortSignal.timeout(timeoutMs),
    }).catch((error: unknown) => {
      throw new Error(`could not fetch ${url}: ${error instanceof Error ? error.message : String(error)}`);
    });
    if (response.status === 404) {
      await response.body?.cancel();
      tried.push(url);
      continue;
    }
    if (!response.ok) throw new Error(`${url} answered HTTP ${response.status}`);
    let document: { issuer?: unknown; jwks_uri?: unknown };
    try {
      document = (await response.json()) as typeof document;
    } catch {
      throw new Error(`${url} is not JSON`);
    }
    if (document.issuer !== issuer)
      throw new Error(`${url} names issuer ${JSON.stringify(document.issuer)}, not ${JSON.stringify(issuer)}`);
    if (typeof document.jwks_uri !== 'string' || !URL.canParse(document.jwks_uri) || !isAcceptableUrl(document.jwks_uri)) {
      throw new Error(`${url} has no usable jwks_uri (an https URL is required)`);
    }
    return { issuer, jwks_uri: document.jwks_uri, source: url };
  }
  throw new Error(`no metadata document found for issuer ${issuer} (tried ${tried.join(', ')})`);
}

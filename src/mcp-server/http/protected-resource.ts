/**
 * `createProtectedResourceRoutes(options)`: the RFC 9728 Protected Resource Metadata
 * document, which tells an MCP client (a platform connecting this server for its
 * users) which authorization server issues tokens for this endpoint. Served at
 * `/.well-known/oauth-protected-resource` and at its path-suffixed form for the MCP
 * path (`/.well-known/oauth-protected-resource/mcp`), where the SDK's
 * `getOAuthProtectedResourceMetadataUrl` and the MCP spec have clients look first.
 * Only mounted when OAuth is configured: a 404 tells a client there is none.
 *
 * The document is built here rather than with the SDK's `oauthMetadataResponse`:
 * that one also serves the authorization server's own metadata (which we would have
 * to fetch before serving anything), omits `bearer_methods_supported`, and answers
 * only the path-suffixed URL.
 *
 * @example app.route('/', createProtectedResourceRoutes({ resource, issuer, scopes, path: '/mcp' }))
 */
import { getOAuthProtectedResourceMetadataUrl, type OAuthProtectedResourceMetadata } from '@modelcontextprotocol/server';
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import { errors } from './errors.ts';

export const PROTECTED_RESOURCE_PATH = '/.well-known/oauth-protected-resource';

export interface ProtectedResourceOptions {
  /** This endpoint's resource identifier: the public URL of the MCP path. */
  resource: string;
  /** The authorization server clients get tokens from. */
  issuer: string;
  /** Scopes a token needs here; listed as scopes_supported when any. */
  scopes: readonly string[];
  /** The MCP path, e.g. /mcp. */
  path: string;
}

/** Where the metadata of `resource` is published (the URL every 401 challenge names). */
export function protectedResourceMetadataUrl(resource: string): string {
  return getOAuthProtectedResourceMetadataUrl(new URL(resource));
}

export function protectedResourceMetadata(options: ProtectedResourceOptions): OAuthProtectedResourceMetadata {
  return {
    resource: options.resource,
    authorization_servers: [options.issuer],
    ...(options.scopes.length > 0 ? { scopes_supported: [...options.scopes] } : {}),
    bearer_methods_supported: ['header'],
    resource_name: 'Code interpreter (MCP)',
  };
}

export function createProtectedResourceRoutes(options: ProtectedResourceOptions): Hono {
  const document = protectedResourceMetadata(options);
  const routes = new Hono();
  const paths = [...new Set([PROTECTED_RESOURCE_PATH, `${PROTECTED_RESOURCE_PATH}${options.path.replace(/\/+$/, '')}`])];
  for (const path of paths) {
    // Browser-based clients read it cross-origin; it holds nothing secret.
    routes.use(path, cors({ origin: '*', allowMethods: ['GET', 'HEAD', 'OPTIONS'] }));
    routes.get(path, (c) => c.json(document, 200, { 'cache-control': 'public, max-age=3600' }));
    routes.all(path, () => errors.methodNotAllowed('the protected-resource metadata is read with GET', 'GET, HEAD, OPTIONS'));
  }
  return routes;
}

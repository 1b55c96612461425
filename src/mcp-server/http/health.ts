/**
 * `createHealthRoutes(deps)`: `GET /health`, FC's and a load balancer's liveness probe
 * (the process is up; it asks nothing further), and `GET /health_check`, the path the
 * original Python server's README tells users to curl to learn whether the sandbox is
 * up: it answers what the health_check tool answers (one function, src/mcp-server/tools/health-check.ts),
 * 200 when the sandbox is healthy and 503 otherwise. The route asks for no token, so it leaves
 * out what only a caller should learn: the sandbox's address and the error text (which names it).
 *
 * @example app.route('/', createHealthRoutes({ sandboxClientFor: deps.sandboxClientFor }))
 */
import { Hono } from 'hono';
import { sandboxHealth } from '../tools/health-check.ts';
import type { SandboxClient } from '../sandbox-client/client.ts';

export interface HealthRoutesDeps {
  /** The sandbox client for a request (FC may authorize with the request's credentials). */
  sandboxClientFor(request: Request): Pick<SandboxClient, 'health'>;
}

export function createHealthRoutes(deps: HealthRoutesDeps): Hono {
  const routes = new Hono();
  routes.get('/health', () => Response.json({ status: 'ok' }));
  routes.get('/health_check', async (c) => {
    const { sandbox_url: _url, error: _error, ...answer } = await sandboxHealth(deps.sandboxClientFor(c.req.raw));
    return c.json(answer, answer.status === 'healthy' ? 200 : 503);
  });
  return routes;
}

/**
 * `createHealthRoutes()`: `GET /health` (FC's and a load balancer's probe) and
 * `GET /health_check`, the path the original Python server's README tells users to
 * curl. Both say the process is up; the sandbox's health is the health_check tool's.
 *
 * @example app.route('/', createHealthRoutes())
 */
import { Hono } from 'hono';

export function createHealthRoutes(): Hono {
  const routes = new Hono();
  const ok = () => Response.json({ status: 'ok' });
  routes.get('/health', ok);
  routes.get('/health_check', ok);
  return routes;
}

/**
 * `createLegacySseRoutes(deps)`: the legacy HTTP+SSE transport (GET /sse, POST
 * /messages) for clients that speak nothing newer. Unlike Streamable HTTP it is
 * stateful: the POSTs of a connection must reach the process holding its GET
 * stream, so on FC it needs `sessionAffinity: MCP_SSE`. The open connections live
 * in the object this factory returns, never in module state; each has its own
 * MCP server from the same factory as /mcp, and belongs to the tenant that opened
 * it: another tenant's POST for it is answered as for an unknown session.
 *
 * @example const sse = createLegacySseRoutes({ logger, serverDeps }); app.get('/sse', (c) => sse.connect(c.req.raw))
 */
import { tenantKey, type Tenant } from '../auth/tenant.ts';
import type { Logger } from '../../shared/logger.ts';
import { createMcpServer, type McpServerDeps } from '../server/server.ts';
import { errors, rpcError, RpcCode } from './errors.ts';
import { SseServerTransport } from './sse-server-transport.ts';
import type { McpTelemetry } from '../telemetry/types.ts';

export const LEGACY_SSE_PATH = '/sse';
export const LEGACY_MESSAGES_PATH = '/messages';

export interface LegacySseDeps {
  logger: Logger;
  serverDeps(request: Request, tenant: Tenant): McpServerDeps;
  /** A span per request of each connection, when telemetry is on. */
  telemetry?: Pick<McpTelemetry, 'traceTransport'>;
}

export interface LegacySseRoutes {
  /** GET /sse: opens a connection with its own MCP server. */
  connect(request: Request, tenant: Tenant): Promise<Response>;
  /** POST /messages?sessionId=…: a message for an open connection of the same tenant. */
  message(request: Request, tenant: Tenant): Promise<Response>;
}

export function createLegacySseRoutes(deps: LegacySseDeps): LegacySseRoutes {
  const connections = new Map<string, { transport: SseServerTransport; owner: string }>();
  return {
    async connect(request, tenant) {
      const transport = new SseServerTransport(LEGACY_MESSAGES_PATH);
      deps.telemetry?.traceTransport(transport, 'http');
      connections.set(transport.sessionId, { transport, owner: tenantKey(tenant) });
      const server = createMcpServer(deps.serverDeps(request, tenant));
      transport.onclose = () => {
        connections.delete(transport.sessionId);
        void server.close().catch(() => {});
      };
      request.signal.addEventListener('abort', () => void transport.close(), { once: true });
      await server.connect(transport);
      return transport.response;
    },
    async message(request, tenant) {
      const sessionId = new URL(request.url).searchParams.get('sessionId') ?? '';
      const connection = connections.get(sessionId);
      const transport = connection?.owner === tenantKey(tenant) ? connection.transport : undefined;
      if (!transport) return rpcError(404, RpcCode.refused, `unknown SSE session "${sessionId}"; open GET ${LEGACY_SSE_PATH} first`);
      let body: unknown;
      try {
        body = JSON.parse(await request.text());
      } catch {
        return errors.parse('the body is not JSON');
      }
      try {
        transport.receive(body);
      } catch (error) {
        deps.logger.debug('legacy SSE: not a JSON-RPC message', { error: error instanceof Error ? error.message : String(error) });
        return errors.invalidRequest('Invalid Request: the body is not a JSON-RPC message');
      }
      return new Response('Accepted', { status: 202 });
    },
  };
}

/**
 * `createLegacySseRoutes(deps)`: the legacy HTTP+SSE transport (GET /sse, POST
 * /messages) for clients that speak nothing newer. Unlike Streamable HTTP it is
 * stateful: the POSTs of a connection must reach the process holding its GET
 * stream, so on FC it needs `sessionAffinity: MCP_SSE`. The open connections live
 * in the object this factory returns, never in module state; each has its own
 * MCP server from the same factory as /mcp.
 *
 * @example const sse = createLegacySseRoutes({ logger, serverDeps }); app.get('/sse', (c) => sse.connect(c.req.raw))
 */
import type { Logger } from '../logger.ts';
import { createMcpServer, type McpServerDeps } from '../mcp/server.ts';
import { errors, rpcError, RpcCode } from './errors.ts';
import { SseServerTransport } from './sse-server-transport.ts';

export const LEGACY_SSE_PATH = '/sse';
export const LEGACY_MESSAGES_PATH = '/messages';

export interface LegacySseDeps {
  logger: Logger;
  serverDeps(request: Request): McpServerDeps;
}

export interface LegacySseRoutes {
  /** GET /sse: opens a connection with its own MCP server. */
  connect(request: Request): Promise<Response>;
  /** POST /messages?sessionId=…: a message for an open connection. */
  message(request: Request): Promise<Response>;
}

export function createLegacySseRoutes(deps: LegacySseDeps): LegacySseRoutes {
  const connections = new Map<string, SseServerTransport>();
  return {
    async connect(request) {
      const transport = new SseServerTransport(LEGACY_MESSAGES_PATH);
      connections.set(transport.sessionId, transport);
      const server = createMcpServer(deps.serverDeps(request));
      transport.onclose = () => {
        connections.delete(transport.sessionId);
        void server.close().catch(() => {});
      };
      request.signal.addEventListener('abort', () => void transport.close(), { once: true });
      await server.connect(transport);
      return transport.response;
    },
    async message(request) {
      const sessionId = new URL(request.url).searchParams.get('sessionId') ?? '';
      const transport = connections.get(sessionId);
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

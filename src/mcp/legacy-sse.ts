/**
 * The legacy HTTP+SSE transport (protocol 2024-11-05: GET /sse, POST /messages) for
 * clients that speak nothing newer. Unlike Streamable HTTP it is stateful: the
 * POSTs of a connection must reach the process holding its GET stream, so on FC it
 * needs `sessionAffinity: MCP_SSE`. The open connections live in the object this
 * factory returns, never in module state.
 */
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import type { Context } from 'hono';
import { createMcpServer, type McpServerDeps } from './server.ts';

export const LEGACY_SSE_PATH = '/sse';
export const LEGACY_MESSAGES_PATH = '/messages';

// Any app's context on @hono/node-server will do; only its env bindings and request are used.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type LegacyContext = Context<{ Bindings: HttpBindings; Variables: any }>;

export interface LegacySse {
  /** GET /sse: opens a connection with its own MCP server. */
  connect(c: LegacyContext): Promise<Response>;
  /** POST /messages?sessionId=…: a message for an open connection. */
  message(c: LegacyContext): Promise<Response>;
  /** Open connections (for tests and shutdown). */
  size(): number;
  closeAll(): Promise<void>;
}

export function createLegacySse(depsFor: (request: Request) => Promise<McpServerDeps>): LegacySse {
  const connections = new Map<string, SSEServerTransport>();
  return {
    async connect(c) {
      const deps = await depsFor(c.req.raw);
      const transport = new SSEServerTransport(LEGACY_MESSAGES_PATH, c.env.outgoing);
      connections.set(transport.sessionId, transport);
      transport.onclose = () => connections.delete(transport.sessionId);
      c.env.outgoing.on('close', () => void transport.close());
      await createMcpServer(deps).connect(transport);
      return RESPONSE_ALREADY_SENT;
    },
    async message(c) {
      const sessionId = c.req.query('sessionId') ?? '';
      const transport = connections.get(sessionId);
      if (!transport) {
        return c.json({ jsonrpc: '2.0', error: { code: -32001, message: `unknown SSE session "${sessionId}"; open GET ${LEGACY_SSE_PATH} first` }, id: null }, 404);
      }
      const body: unknown = await c.req.json().catch(() => undefined);
      if (body === undefined) {
        return c.json({ jsonrpc: '2.0', error: { code: -32700, message: 'Parse error: Invalid JSON' }, id: null }, 400);
      }
      await transport.handlePostMessage(c.env.incoming, c.env.outgoing, body);
      return RESPONSE_ALREADY_SENT;
    },
    size: () => connections.size,
    async closeAll() {
      await Promise.all([...connections.values()].map((t) => t.close()));
    },
  };
}

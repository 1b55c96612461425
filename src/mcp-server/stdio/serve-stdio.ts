/**
 * The MCP server on stdin/stdout (the stdio entry point); the MCP server is loaded
 * only when stdio needs it. Nothing here reads the environment.
 */
import type { McpServerDeps } from '../server/server.ts';
import type { McpTelemetry } from '../telemetry/types.ts';

/**
 * Serves MCP over stdin/stdout until stdin closes, through the SDK's `serveStdio`:
 * the connection's opening picks the era (server/discover: 2026-07-28; initialize:
 * 2025) and one server from the factory serves the connection. `answered(ms)` resolves
 * once every request read so far has had its answer written (or after `ms`): a stop on a
 * signal waits for it, so a call in flight gets its error rather than silence.
 */
export async function serveStdio(
  deps: () => McpServerDeps,
  /** A span per request read, when telemetry is on. */
  telemetry?: Pick<McpTelemetry, 'traceTransport'>,
): Promise<{ closed: Promise<void>; answered(ms: number): Promise<void> }> {
  const { serveStdio: serve, StdioServerTransport } = await import('@modelcontextprotocol/server/stdio');
  const { answerMalformedLines } = await import('./stdio-lines.ts');
  const { createMcpServer } = await import('../server/server.ts');
  const closed = new Promise<void>((resolve) => {
    process.stdin.once('end', () => resolve());
    process.stdin.once('close', () => resolve());
  });
  const pending = new Set<unknown>();
  const wire = new StdioServerTransport(
    answerMalformedLines(process.stdin, process.stdout, (message) => {
      const { id, method } = message as { id?: unknown; method?: unknown };
      if (id !== undefined && typeof method === 'string') pending.add(id);
    }),
    process.stdout,
  );
  const send = wire.send.bind(wire);
  wire.send = async (message) => {
    await send(message);
    if ('id' in message && !('method' in message)) pending.delete(message.id);
  };
  serve(
    () => {
      const server = createMcpServer(deps());
      if (!telemetry) return server;
      // Traced where the SDK hands a message to this server (its channel), not on the wire: the
      // wire's messages wait in the SDK's queue and are handed on later, outside their own context.
      const connect = server.connect.bind(server);
      server.connect = (transport) => {
        telemetry.traceTransport(transport, 'stdio');
        return connect(transport);
      };
      return server;
    },
    { transport: wire },
  );
  const answered = async (ms: number) => {
    const until = Date.now() + ms;
    while (pending.size > 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
  };
  return { closed, answered };
}

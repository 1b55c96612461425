/**
 * The MCP server on stdin/stdout (the stdio entry point); the MCP server is loaded
 * only when stdio needs it. Nothing here reads the environment.
 */
import type { McpServerDeps } from '../server/server.ts';

/**
 * Serves MCP over stdin/stdout until stdin closes, through the SDK's `serveStdio`:
 * the connection's opening picks the era (server/discover: 2026-07-28; initialize:
 * 2025) and one server from the factory serves the connection.
 */
export async function serveStdio(deps: () => McpServerDeps): Promise<{ closed: Promise<void> }> {
  const { serveStdio: serve, StdioServerTransport } = await import('@modelcontextprotocol/server/stdio');
  const { answerMalformedLines } = await import('./stdio-lines.ts');
  const { createMcpServer } = await import('../server/server.ts');
  const closed = new Promise<void>((resolve) => {
    process.stdin.once('end', () => resolve());
    process.stdin.once('close', () => resolve());
  });
  serve(() => createMcpServer(deps()), {
    transport: new StdioServerTransport(answerMalformedLines(process.stdin, process.stdout), process.stdout),
  });
  return { closed };
}

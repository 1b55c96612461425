/**
 * Baseline for the tools/list benchmark: the MCP SDK's own stateless Express example
 * (src/examples/server/simpleStatelessStreamableHttp.ts: McpServer + StreamableHTTPServerTransport
 * per request) serving the same five tool definitions as ours. Prints "listening <port>".
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TOOLS } from '../../src/mcp/tools.ts';

const getServer = () => {
  const server = new McpServer({ name: 'stateless-streamable-http-server', version: '1.0.0' }, { capabilities: { logging: {} } });
  for (const tool of TOOLS) {
    server.registerTool(
      tool.name,
      { title: tool.title, description: tool.description, inputSchema: tool.inputSchema, outputSchema: tool.outputSchema, annotations: tool.annotations },
      async () => ({ content: [{ type: 'text', text: 'not used by the benchmark' }] }),
    );
  }
  return server;
};

const app = createMcpExpressApp();
// express's req/res extend node's (its own types are not installed here)
app.post('/mcp', async (req: IncomingMessage & { body?: unknown }, res: ServerResponse) => {
  const server = getServer();
  try {
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
  } catch {
    if (!res.headersSent) res.writeHead(500).end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal server error' }, id: null }));
  }
});
const listener = app.listen(0, '127.0.0.1', () => {
  console.log(`listening ${(listener.address() as AddressInfo).port}`);
});

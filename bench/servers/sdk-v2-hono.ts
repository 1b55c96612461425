/**
 * Baseline for the tools/list benchmark: the SDK v2's own minimal way to serve both
 * eras, `createMcpHandler(factory)` with a new McpServer per request (tools registered
 * with registerTool, the README's pattern), on Hono via @modelcontextprotocol/hono's
 * app and @hono/node-server, serving the same five tool definitions as ours.
 * Prints "listening <port>".
 */
import { serve } from '@hono/node-server';
import { createMcpHonoApp } from '@modelcontextprotocol/hono';
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import type { AddressInfo } from 'node:net';
import { TOOLS } from '../../src/mcp-server/server/code-interpreter-tools.ts';

const handler = createMcpHandler(() => {
  const server = new McpServer({ name: 'sdk-v2-reference', version: '1.0.0' }, { capabilities: { logging: {} } });
  for (const tool of TOOLS) {
    server.registerTool(
      tool.name,
      {
        title: tool.title,
        description: tool.description,
        inputSchema: tool.inputSchema,
        outputSchema: tool.outputSchema,
        annotations: tool.annotations,
      },
      async () => ({ content: [{ type: 'text', text: 'not used by the benchmark' }] }),
    );
  }
  return server;
});

const app = createMcpHonoApp();
// createMcpHonoApp's JSON middleware leaves the parsed body in the context (untyped on a plain Hono).
app.post('/mcp', (c) => handler.fetch(c.req.raw, { parsedBody: (c.get as (key: string) => unknown)('parsedBody') }));
const listener = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) => {
  console.log(`listening ${info.port}`);
});
void listener;

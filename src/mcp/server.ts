/**
 * `createMcpServer(deps)`: the MCP server for one request (or one stdio connection).
 *
 * Built on the SDK's low-level Server rather than McpServer because McpServer
 * converts every zod schema to JSON Schema on every tools/list; here the catalog
 * holds the converted listing once per process and each request only wires
 * handlers. Arguments are still validated with the tools' zod schemas.
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type CallToolResult,
} from '@modelcontextprotocol/sdk/types.js';
import type { jsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/types.js';
import type { ToolCatalog } from './catalog.ts';
import { toolError, type ToolDeps } from './tool.ts';

export interface McpServerDeps extends ToolDeps {
  catalog: ToolCatalog;
  /** Shown to clients in initialize's serverInfo. */
  serverInfo?: { name: string; version: string };
}

export const SERVER_INFO = { name: 'fc-code-interpreter', version: '0.1.0' };

const INSTRUCTIONS =
  'A code interpreter. Use create_context for a stateful Python/JavaScript/TypeScript session, run_code with its context_id to run code in it ' +
  '(state persists between calls), list_contexts to find contexts again, and stop_context when done. run_code without context_id runs once in a throw-away context.';

/**
 * The SDK's Server would build an Ajv instance per request for elicitation, which
 * this server never uses; this stand-in keeps per-request construction cheap.
 */
const noElicitationValidator: jsonSchemaValidator = {
  getValidator() {
    return () => ({ valid: false, data: undefined, errorMessage: 'this server does not validate elicitation results' });
  },
};

export function createMcpServer(deps: McpServerDeps): Server {
  const server = new Server(deps.serverInfo ?? SERVER_INFO, {
    capabilities: { tools: {}, logging: {} },
    instructions: INSTRUCTIONS,
    jsonSchemaValidator: noElicitationValidator,
  });

  server.setRequestHandler(ListToolsRequestSchema, () => deps.catalog.listing);

  server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult> => {
    const name = request.params.name;
    const tool = deps.catalog.get(name);
    if (!tool) throw new McpError(ErrorCode.InvalidParams, `unknown tool "${name}"; call tools/list for the available tools`);
    const started = performance.now();
    const log = (outcome: string, extraFields: Record<string, unknown> = {}) =>
      deps.logger.info('tool call', { tool: name, outcome, duration_ms: Math.round((performance.now() - started) * 10) / 10, ...extraFields });

    const parsed = tool.inputSchema.safeParse(request.params.arguments ?? {});
    if (!parsed.success) {
      log('invalid_arguments');
      const issues = parsed.error.issues
        .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'arguments'}: ${issue.message}`)
        .join('; ');
      return toolError(`invalid arguments for ${name}: ${issues}`);
    }
    try {
      const result = await tool.handler(parsed.data, deps, {
        signal: extra.signal,
        progressToken: request.params._meta?.progressToken,
        notify: (notification) => extra.sendNotification(notification),
      });
      log(result.isError ? 'tool_error' : 'ok');
      return result;
    } catch (error) {
      // A bug, not a user error: log it fully here, give the client a short message.
      log('exception', { error: error instanceof Error ? error.stack : String(error) });
      return toolError(`internal error in ${name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  });

  return server;
}

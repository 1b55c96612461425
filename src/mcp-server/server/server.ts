/**
 * `createMcpServer(deps)`: the MCP server for one request (or one stdio connection),
 * the one factory behind both protocol eras: 2026-07-28 (server/discover, _meta on
 * every request) and the 2025 revisions (initialize, or a bare request).
 *
 * Built on the SDK's low-level Server rather than McpServer because McpServer
 * converts every zod schema to JSON Schema on every tools/list; here the catalog
 * holds the converted listing once per process and each request only wires
 * handlers. Arguments are still validated with the tools' zod schemas.
 */
import { ProtocolError, ProtocolErrorCode, Server, type CallToolResult, type jsonSchemaValidator } from '@modelcontextprotocol/server';
import { PACKAGE_VERSION } from '../../shared/package-version.ts';
import { describeIssues } from '../../shared/zod-issues.ts';
import { addFileResources } from '../file-tools/file-resources.ts';
import { addPrompts } from './prompts.ts';
import type { ToolCatalog } from '../tools/tool-catalog.ts';
import type { ToolDeps } from '../tools/tool-definition.ts';
import { toolFailure } from '../tools/tool-failure.ts';

/** What a tool call ended as, for the request's one log line. */
export type ToolOutcome = 'ok' | 'tool_error' | 'invalid_arguments' | 'exception';

export interface McpServerDeps extends ToolDeps {
  catalog: ToolCatalog;
  /** Told how each tool call ended (the HTTP edge puts it on the request's log line). */
  onToolCall?(fields: { tool: string; outcome: ToolOutcome; error?: string }): void;
}

/** Shown to clients in initialize's serverInfo and server/discover. */
const SERVER_INFO = { name: 'fc-code-interpreter', version: PACKAGE_VERSION };

const INSTRUCTIONS =
  'A code interpreter. Use create_context for a stateful Python/JavaScript/TypeScript/bash/R session, run_code with its context_id to run code in it ' +
  '(state persists between calls), list_contexts to find contexts again, and stop_context when done. run_code without context_id runs once in a throw-away context. ' +
  "write_file puts data into a context's workspace (text, base64 or a public URL), read_file and list_files take results out; files are also resources.";

/**
 * The tool list is fixed for a deployment and the same for every caller: clients
 * and shared caches may keep it a while (2026-07-28 caching hints).
 */
const CACHE_HINTS = {
  'tools/list': { ttlMs: 3_600_000, cacheScope: 'public' },
  'server/discover': { ttlMs: 3_600_000, cacheScope: 'public' },
} as const;

/**
 * The SDK's Server would build an Ajv validator for elicitation, which this server
 * never uses; this stand-in keeps per-request construction cheap.
 */
const noElicitationValidator: jsonSchemaValidator = {
  getValidator() {
    return () => ({ valid: false, data: undefined, errorMessage: 'this server does not validate elicitation results' });
  },
};

export function createMcpServer(deps: McpServerDeps): Server {
  const server = new Server(SERVER_INFO, {
    capabilities: { tools: {}, logging: {}, resources: {}, prompts: {} },
    instructions: INSTRUCTIONS,
    jsonSchemaValidator: noElicitationValidator,
    cacheHints: CACHE_HINTS,
  });
  const report =
    deps.onToolCall ??
    ((fields: { tool: string; outcome: ToolOutcome; error?: string }) =>
      deps.logger[fields.outcome === 'exception' ? 'error' : 'info']('tool call', fields));

  // A fresh wrapper per answer: the SDK tags results with cache hints, the listing itself stays frozen.
  server.setRequestHandler('tools/list', () => ({ tools: deps.catalog.listing.tools }));

  server.setRequestHandler('tools/call', async (request, ctx): Promise<CallToolResult> => {
    const name = request.params.name;
    const tool = deps.catalog.get(name);
    if (!tool) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `unknown tool "${name}"; call tools/list for the available tools`);

    const parsed = tool.inputSchema.safeParse(request.params.arguments ?? {});
    if (!parsed.success) {
      report({ tool: name, outcome: 'invalid_arguments' });
      return toolFailure('invalid_arguments', `invalid arguments for ${name}: ${describeIssues(parsed.error, 'arguments')}`);
    }
    let result: CallToolResult;
    try {
      result = await tool.handler(parsed.data, deps, {
        signal: ctx.mcpReq.signal,
        requestId: ctx.mcpReq.id,
        progressToken: ctx.mcpReq._meta?.progressToken,
        notify: (notification) => ctx.mcpReq.notify(notification),
        log: (level, data, logger) => ctx.mcpReq.log(level, data, logger),
      });
    } catch (error) {
      // A bug, not a user error: the full stack goes to our log, a short message to the client.
      report({ tool: name, outcome: 'exception', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
      return toolFailure('internal', `internal error in ${name}: ${error instanceof Error ? error.message : String(error)}`);
    }
    report({ tool: name, outcome: result.isError ? 'tool_error' : 'ok' });
    return server.projectCallToolResult(result, deps.catalog.outputSchemaOf(name));
  });

  addFileResources(server, deps);
  addPrompts(server);
  return server;
}

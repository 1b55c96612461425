/**
 * The tool catalog: tools by name and their tools/list entries, JSON Schema included,
 * computed once. Per-request servers share it read-only, which is what makes
 * tools/list cheap (the SDK's McpServer converts every schema on every tools/list).
 */
import type { Tool as ToolDefinition } from '@modelcontextprotocol/server';
import { listedInputSchema, listedOutputSchema, type Tool } from './tool-definition.ts';

export interface ToolCatalog {
  get(name: string): Tool | undefined;
  /** The tools/list result, ready to send. */
  readonly listing: { tools: ToolDefinition[] };
  /** A tool's advertised output schema (JSON Schema), as tools/list shows it. */
  outputSchemaOf(name: string): Readonly<Record<string, unknown>> | undefined;
}

export function createToolCatalog(tools: readonly Tool[]): ToolCatalog {
  const byName = new Map(tools.map((tool) => [tool.name, tool]));
  // Built on the first tools/list rather than at start-up: a cold start answers initialize sooner.
  let listing: ToolCatalog['listing'] | undefined;
  const build = () => ({
    tools: tools.map(
      (tool): ToolDefinition => ({
        name: tool.name,
        title: tool.title,
        description: tool.description,
        inputSchema: listedInputSchema(tool),
        outputSchema: listedOutputSchema(tool),
        annotations: tool.annotations,
        ...(tool._meta ? { _meta: tool._meta } : {}),
      }),
    ),
  });
  const built = () => {
    if (!listing) {
      listing = build();
      deepFreeze(listing);
    }
    return listing;
  };
  return {
    get: (name) => byName.get(name),
    get listing() {
      return built();
    },
    outputSchemaOf: (name) => built().tools.find((tool) => tool.name === name)?.outputSchema,
  };
}

function deepFreeze(value: unknown): void {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
}

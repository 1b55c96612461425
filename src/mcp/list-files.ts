import { z } from 'zod';
import { WORKSPACE_DIR } from '../sandbox/protocol.ts';
import { ContextIdParam, resolveContext } from './context-params.ts';
import { failureOf, unknownContext } from './tool-failure.ts';
import { defineTool, toolResult } from './tool-definition.ts';
import { fileUri, pathPartsOrFailure } from './workspace-files.ts';
import { workspacePartsIfInside } from '../sandbox/workspace-path.ts';

const MAX_DEPTH = 5;

const FileItem = z.object({
  path: z.string(),
  name: z.string(),
  type: z.string().describe('"file", "directory", "symlink" or "other"'),
  size: z.number().nullable(),
  modified: z.string().nullable().describe('ISO 8601'),
  uri: z.string().nullable().describe('For files: the file as an MCP resource'),
});

export const listFiles = defineTool({
  name: 'list_files',
  title: 'List files in a context',
  description: `Lists the files of a context's workspace (${WORKSPACE_DIR}), or of a folder in it: names, types, sizes and modification times. depth > 1 goes into subfolders.`,
  inputSchema: z.object({
    context_id: ContextIdParam,
    path: z.string().max(4096).optional().describe(`A folder in the workspace (default: the workspace itself, ${WORKSPACE_DIR}).`),
    depth: z.number().int().min(1).max(MAX_DEPTH).optional().describe('How many levels to list (default 1).'),
  }),
  outputSchema: z.object({ path: z.string(), files: z.array(FileItem), truncated: z.boolean() }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler({ context_id, path, depth }, deps) {
    const address = resolveContext(deps, context_id);
    if (!address) return unknownContext(context_id);
    const folder = path ?? WORKSPACE_DIR;
    const checked = pathPartsOrFailure(folder);
    if ('failure' in checked) return checked.failure;
    try {
      const listing = await deps.sandbox.listFiles(address.session, checked.path, depth ?? 1);
      const files = listing.entries.map((entry) => ({
        path: entry.path,
        name: entry.name,
        type: entry.type,
        size: entry.size ?? null,
        modified: entry.modifiedTime ?? null,
        uri: entry.type === 'file' ? uriOf(context_id, entry.path) : null,
      }));
      const text =
        files.length === 0
          ? `${listing.path} is empty`
          : files.map((f) => `${f.type === 'directory' ? 'd' : '-'} ${String(f.size ?? '').padStart(10)}  ${f.path}`).join('\n');
      return toolResult({ path: listing.path, files, truncated: listing.truncated ?? false }, text);
    } catch (error) {
      return failureOf(error, context_id);
    }
  },
});

function uriOf(contextId: string, path: string): string | null {
  const parts = workspacePartsIfInside(path);
  return parts ? fileUri(contextId, parts) : null;
}

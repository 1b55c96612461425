import { z } from 'zod';
import { WORKSPACE_DIR } from '../../protocol/sandbox-api.ts';
import { ContextIdParam } from '../tools/context-params.ts';
import { decodeContextId } from '../tools/tenant-contexts.ts';
import { failureOf, unknownContext } from '../tools/tool-failure.ts';
import { defineTool, toolResult } from '../tools/tool-definition.ts';
import { fileUri, pathPartsOrFailure } from './workspace-files.ts';
import { workspacePartsIfInside } from '../../protocol/workspace-path.ts';

/** Levels listed when the caller names none: folders a run made show without asking again. */
const DEFAULT_DEPTH = 3;
/** The sandbox goes no deeper. */
const MAX_DEPTH = 10;
/** At most this many entries in one answer (the sandbox's own cap is far higher). */
const MAX_ENTRIES = 500;

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
  description:
    `Lists the files of a context's workspace (${WORKSPACE_DIR}), or of a folder in it, with subfolders ${DEFAULT_DEPTH} levels down by default: ` +
    `names, types, sizes and modification times. At most ${MAX_ENTRIES} entries; the answer says when it was cut. ` +
    'Hidden entries (names starting with ".", such as installed packages and caches) are left out unless hidden is true.',
  inputSchema: z.object({
    context_id: ContextIdParam,
    path: z.string().max(4096).optional().describe(`A folder in the workspace (default: the workspace itself, ${WORKSPACE_DIR}).`),
    depth: z
      .number()
      .int()
      .min(1)
      .max(MAX_DEPTH)
      .optional()
      .describe(`How many levels to list (default ${DEFAULT_DEPTH}; 1 = only the folder itself).`),
    hidden: z
      .boolean()
      .optional()
      .describe('Also list hidden entries (names starting with "."): installed packages, caches, saved tables. Default false.'),
  }),
  outputSchema: z.object({
    path: z.string(),
    files: z.array(FileItem),
    depth: z.number().int().describe('The levels listed; folders that deep are shown but not opened'),
    truncated: z.boolean().describe(`true when there were more than the ${MAX_ENTRIES} entries shown`),
  }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler({ context_id, path, depth, hidden }, deps) {
    const address = decodeContextId(deps, context_id);
    if (!address) return unknownContext(context_id);
    const folder = path ?? WORKSPACE_DIR;
    const checked = pathPartsOrFailure(folder);
    if ('failure' in checked) return checked.failure;
    try {
      const levels = depth ?? DEFAULT_DEPTH;
      const listing = await deps.sandbox.listFiles(address.session, checked.path, levels);
      // As ls does: what installs and kernels keep in the workspace (.packages, .cache, .results) would bury the user's files.
      const shown = hidden ? listing.entries : listing.entries.filter((entry) => !isHiddenBelow(listing.path, entry.path));
      const hiddenCount = listing.entries.length - shown.length;
      const truncated = (listing.truncated ?? false) || shown.length > MAX_ENTRIES;
      const files = shown.slice(0, MAX_ENTRIES).map((entry) => ({
        path: entry.path,
        name: entry.name,
        type: entry.type,
        size: entry.size ?? null,
        modified: entry.modifiedTime ?? null,
        uri: entry.type === 'file' ? uriOf(context_id, entry.path) : null,
      }));
      const lines = files.map((f) => `${f.type === 'directory' ? 'd' : '-'} ${String(f.size ?? '').padStart(10)}  ${f.path}`);
      if (files.length === 0) lines.push(hiddenCount > 0 ? `${listing.path} has only hidden entries` : `${listing.path} is empty`);
      if (hiddenCount > 0) lines.push(`(${hiddenCount} hidden entries not shown: list them with hidden: true)`);
      if (truncated) lines.push(`(cut at ${files.length} entries: list a subfolder with path, or fewer levels with depth)`);
      if (files.some((f) => f.type === 'directory' && levelOf(listing.path, f.path) >= levels)) {
        lines.push(`(folders ${levels} levels down are not opened: list one with path, or raise depth up to ${MAX_DEPTH})`);
      }
      return toolResult({ path: listing.path, files, depth: levels, truncated }, lines.join('\n'));
    } catch (error) {
      return failureOf(error, context_id);
    }
  },
});

function uriOf(contextId: string, path: string): string | null {
  const parts = workspacePartsIfInside(path);
  return parts ? fileUri(contextId, parts) : null;
}

/** The names from the listed folder down to an entry (one name = directly in it). */
function partsBelow(folder: string, path: string): string[] {
  return path.slice(folder.replace(/\/+$/, '').length).replace(/^\/+/, '').split('/');
}

/** Whether `path` is hidden, or inside a hidden folder, below the listed folder (the folder's own path does not count). */
function isHiddenBelow(folder: string, path: string): boolean {
  return partsBelow(folder, path).some((part) => part.startsWith('.'));
}

/** How many levels below the listed folder an entry is (1 = directly in it). */
function levelOf(folder: string, path: string): number {
  return partsBelow(folder, path).length;
}

import { z } from 'zod';
import { WORKSPACE_DIR } from '../../protocol/sandbox-api.ts';
import { ContextIdParam } from '../tools/context-params.ts';
import { decodeContextId } from '../tools/tenant-contexts.ts';
import { failureOf, toolFailure, unknownContext } from '../tools/tool-failure.ts';
import { defineTool } from '../tools/tool-definition.ts';
import { FilePathParam, fileContent, fileLink, fileUri, pathPartsOrFailure, readAll } from './workspace-files.ts';

/** What read_file returns inline when the caller names no max_bytes. */
export const DEFAULT_READ_BYTES = 1024 * 1024;

export const readFile = defineTool({
  name: 'read_file',
  title: 'Read a file from a context',
  description:
    `Reads a file from a context's workspace (${WORKSPACE_DIR}): text files come back as text, images (png, jpeg, gif, webp, svg) as images, other files as an embedded blob. ` +
    'A file larger than max_bytes comes back as a resource link (read it with resources/read) and its size. Use list_files to see what is there.',
  inputSchema: z.object({
    context_id: ContextIdParam,
    path: FilePathParam,
    max_bytes: z
      .number()
      .int()
      .positive()
      .optional()
      .describe(`Return the content only up to this size (default ${DEFAULT_READ_BYTES} bytes; the server caps it).`),
  }),
  outputSchema: z.object({
    path: z.string(),
    size: z.number(),
    mime_type: z.string(),
    kind: z.enum(['text', 'image', 'binary', 'link']).describe('"link": too large to return inline; read the uri with resources/read'),
    uri: z.string().describe('The file as an MCP resource'),
    content: z
      .string()
      .optional()
      .describe('The file itself (absent for "link"): the text, or base64 for images and other binary files, as encoding says'),
    encoding: z.enum(['utf-8', 'base64']).optional().describe('How content is written'),
  }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler({ context_id, path, max_bytes }, deps, call) {
    const address = decodeContextId(deps, context_id);
    if (!address) return unknownContext(context_id);
    const checked = pathPartsOrFailure(path);
    if ('failure' in checked) return checked.failure;
    const uri = fileUri(context_id, checked.parts);
    const limit = Math.min(max_bytes ?? DEFAULT_READ_BYTES, deps.settings.maxFileBytes);
    try {
      const entry = await deps.sandbox.statFile(address.session, checked.path);
      if (entry.type === 'directory') {
        return toolFailure('invalid_path', `${entry.path} is a directory; list_files shows what it holds`);
      }
      const size = entry.size ?? 0;
      if (size > limit) {
        const structured = { path: entry.path, size, mime_type: 'application/octet-stream', kind: 'link' as const, uri };
        return {
          content: [
            { type: 'text', text: `${entry.path} is ${size} bytes, more than ${limit}: read it as the resource below, or with code` },
            fileLink(uri, entry.name, size),
          ],
          structuredContent: structured,
        };
      }
      const download = await deps.sandbox.downloadFile(address.session, checked.path, call.signal);
      const bytes = await readAll(download.body, limit);
      const { kind, mimeType, block, inline } = fileContent(bytes, entry.name, uri);
      return {
        content: [block],
        // Also in structured form: some clients (Mastra) give the model only structuredContent when there is one.
        structuredContent: { path: entry.path, size: bytes.byteLength, mime_type: mimeType, kind, uri, ...inline },
      };
    } catch (error) {
      return failureOf(error, context_id);
    }
  },
});

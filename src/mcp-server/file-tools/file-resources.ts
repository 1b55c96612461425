/**
 * A context's files as MCP resources: the template `sandbox://contexts/{context_id}/files/{+path}`
 * and resources/read for it, with read_file's checks (signed context id, the path
 * rule, the size cap). No file is listed: the server keeps no state to list from, so
 * files are found with list_files and the links tools return. The one listed resource is the
 * results viewer (src/mcp-server/apps/result-view.ts), which MCP Apps hosts read by its ui:// URI.
 */
import { ProtocolError, ProtocolErrorCode, ResourceNotFoundError, type Server } from '@modelcontextprotocol/server';
import { Refusal } from '../refusal.ts';
import { WorkspacePathError, workspaceParts, workspacePathOf } from '../../protocol/workspace-path.ts';
import { decodeContextId } from '../tools/tenant-contexts.ts';
import type { ToolDeps } from '../tools/tool-definition.ts';
import { NOT_ISSUED_HERE } from '../tools/tool-failure.ts';
import { FILE_URI_TEMPLATE, fileContent, parseFileUri, readAll } from './workspace-files.ts';
import { VIEW_RESOURCE, VIEW_URI, viewContents } from '../apps/result-view.ts';

export function addFileResources(server: Server, deps: ToolDeps): void {
  server.setRequestHandler('resources/list', () => ({ resources: [VIEW_RESOURCE] }));
  server.setRequestHandler('resources/templates/list', () => ({
    resourceTemplates: [
      {
        uriTemplate: FILE_URI_TEMPLATE,
        name: 'context-file',
        title: 'A file in a code context',
        description: 'A file in the workspace of a context (see list_files); text comes back as text, anything else as a blob.',
      },
    ],
  }));

  server.setRequestHandler('resources/read', async (request, ctx) => {
    const uri = request.params.uri;
    if (uri === VIEW_URI) return { contents: await viewContents() };
    const named = parseFileUri(uri);
    if (!named) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `"${uri}" is not a file of this server (${FILE_URI_TEMPLATE})`);
    const address = decodeContextId(deps, named.contextId);
    if (!address) throw new ResourceNotFoundError(uri, `unknown context "${named.contextId}": ${NOT_ISSUED_HERE}`);
    let path: string;
    try {
      path = workspacePathOf(workspaceParts(named.path));
    } catch (error) {
      if (error instanceof WorkspacePathError) throw new ProtocolError(ProtocolErrorCode.InvalidParams, error.message);
      throw error;
    }
    try {
      const entry = await deps.sandbox.statFile(address.session, path);
      if (entry.type !== 'file') throw new ProtocolError(ProtocolErrorCode.InvalidParams, `${entry.path} is a ${entry.type}, not a file`);
      const limit = deps.settings.maxFileBytes;
      if ((entry.size ?? 0) > limit) {
        throw new ProtocolError(
          ProtocolErrorCode.InvalidParams,
          `${entry.path} is ${entry.size} bytes, over this server's limit of ${limit} (MCP_MAX_FILE_BYTES); read parts of it with code`,
        );
      }
      const download = await deps.sandbox.downloadFile(address.session, path, ctx.mcpReq.signal);
      const bytes = await readAll(download.body, limit);
      const { kind, mimeType, block } = fileContent(bytes, entry.name, uri);
      const contents =
        kind === 'text' && block.type === 'text'
          ? { uri, mimeType, text: block.text }
          : { uri, mimeType, blob: Buffer.from(bytes).toString('base64') };
      return { contents: [contents] };
    } catch (error) {
      if (error instanceof Refusal && error.kind === 'sandbox_not_found') {
        throw new ResourceNotFoundError(
          uri,
          `unknown or expired context "${named.contextId}": it was stopped or its sandbox session ended`,
        );
      }
      if (error instanceof Refusal && error.kind === 'sandbox_file_not_found') {
        throw new ResourceNotFoundError(uri, `no such file: ${named.path}`);
      }
      if (error instanceof Refusal) throw new ProtocolError(ProtocolErrorCode.InternalError, error.message);
      throw error;
    }
  });
}

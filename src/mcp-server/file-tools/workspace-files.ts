/**
 * What the file tools and the file resources share: resource URIs of a context's
 * files, the path rule in the tools' words, MIME types by extension, and how a
 * file's bytes become MCP content (text, image or blob).
 */
import type { ContentBlock } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { WorkspacePathError, workspaceParts, workspacePathOf } from '../../protocol/workspace-path.ts';
import { fileText, WORKSPACE_DIR } from '../../protocol/sandbox-api.ts';
import { toolFailure } from '../tools/tool-failure.ts';

/** `sandbox://contexts/{context_id}/files/{+path}`: a file of a context, readable with resources/read. */
export const FILE_URI_TEMPLATE = 'sandbox://contexts/{context_id}/files/{+path}';
const FILE_URI = /^sandbox:\/\/contexts\/([^/?#]+)\/files\/([^?#]+)$/;

export const FilePathParam = z
  .string()
  .min(1)
  .max(4096)
  .describe(`A path in the context's workspace, relative to ${WORKSPACE_DIR} (e.g. "data/sales.csv") or absolute under it.`);

export function fileUri(contextId: string, parts: readonly string[]): string {
  return `sandbox://contexts/${encodeURIComponent(contextId)}/files/${parts.map(encodeURIComponent).join('/')}`;
}

/** The context id and path a file URI names, or undefined when it is not one of ours. */
export function parseFileUri(uri: string): { contextId: string; path: string } | undefined {
  const match = FILE_URI.exec(uri);
  if (!match) return undefined;
  try {
    return { contextId: decodeURIComponent(match[1]!), path: match[2]!.split('/').map(decodeURIComponent).join('/') };
  } catch {
    return undefined;
  }
}

/**
 * The path's workspace components and the absolute path sent to the sandbox (a cloud
 * image may not resolve relative ones as ours does), or a tool error that says what is wrong.
 */
export function pathPartsOrFailure(path: string): { parts: string[]; path: string } | { failure: ReturnType<typeof toolFailure> } {
  try {
    const parts = workspaceParts(path);
    return { parts, path: workspacePathOf(parts) };
  } catch (error) {
    if (error instanceof WorkspacePathError) return { failure: toolFailure('invalid_path', error.message) };
    throw error;
  }
}

const MIME_TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  svg: 'image/svg+xml',
  csv: 'text/csv',
  tsv: 'text/tab-separated-values',
  txt: 'text/plain',
  md: 'text/markdown',
  json: 'application/json',
  html: 'text/html',
  xml: 'application/xml',
  py: 'text/x-python',
  js: 'text/javascript',
  ts: 'text/x-typescript',
  pdf: 'application/pdf',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  xls: 'application/vnd.ms-excel',
  zip: 'application/zip',
  parquet: 'application/vnd.apache.parquet',
};

/** Images MCP clients show as images (svg included: it is sent as an image, not as text). */
const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/svg+xml']);

/** A resource_link to a workspace file, with the MIME type its name suggests (octet-stream when none). */
export function fileLink(uri: string, name: string, size?: number | null): ContentBlock {
  return {
    type: 'resource_link',
    uri,
    name,
    mimeType: mimeTypeOf(name) ?? 'application/octet-stream',
    ...(size === null || size === undefined ? {} : { size }),
  };
}

export function mimeTypeOf(name: string): string | undefined {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? undefined : MIME_TYPES[name.slice(dot + 1).toLowerCase()];
}

export type FileKind = 'text' | 'image' | 'binary';

/** A file's bytes as read_file's structured output carries them: text as text, anything else as base64. */
export interface InlineContent {
  content: string;
  encoding: 'utf-8' | 'base64';
}

/** How a file goes out: images as image content, text as text, anything else as an embedded blob. */
export function fileContent(
  bytes: Uint8Array,
  name: string,
  uri: string,
): { kind: FileKind; mimeType: string; block: ContentBlock; inline: InlineContent } {
  const mimeType = mimeTypeOf(name);
  const base64 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  const asBase64 = { content: base64, encoding: 'base64' } as const;
  if (mimeType && IMAGE_TYPES.has(mimeType)) {
    return { kind: 'image', mimeType, block: { type: 'image', data: base64, mimeType }, inline: asBase64 };
  }
  const text = fileText(bytes);
  if (text !== undefined) {
    return {
      kind: 'text',
      mimeType: mimeType ?? 'text/plain',
      block: { type: 'text', text },
      inline: { content: text, encoding: 'utf-8' },
    };
  }
  const binaryType = mimeType ?? 'application/octet-stream';
  return {
    kind: 'binary',
    mimeType: binaryType,
    block: { type: 'resource', resource: { uri, mimeType: binaryType, blob: base64 } },
    inline: asBase64,
  };
}

/** Reads a stream whole; more than `maxBytes` stops it with an error (a size the sandbox misreported). */
export async function readAll(stream: ReadableStream<Uint8Array>, maxBytes: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      await stream.cancel().catch(() => {});
      throw new Error(`the file grew past ${maxBytes} bytes while it was read`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

import { z } from 'zod';
import { tenantKey } from '../auth/tenant.ts';
import { FILE_ENCODINGS, WORKSPACE_DIR, type WrittenFile } from '../../protocol/sandbox-api.ts';
import { ContextIdParam } from '../tools/context-params.ts';
import { decodeContextId } from '../tools/tenant-contexts.ts';
import { failureOf, toolFailure, unknownContext } from '../tools/tool-failure.ts';
import { defineTool, type ToolDeps, toolResult } from '../tools/tool-definition.ts';
import { FilePathParam, fileUri, pathPartsOrFailure } from './workspace-files.ts';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export const writeFile = defineTool({
  name: 'write_file',
  title: 'Write a file into a context',
  description:
    `Writes a file into a context's workspace (${WORKSPACE_DIR}, the code's working directory), creating folders; an existing file is replaced. ` +
    'Give content (text, or base64 with encoding "base64" for binary data), or a public http(s) url that the server downloads into the file. ' +
    'Code in the context then reads it by its path, e.g. pd.read_csv("data/sales.csv").',
  inputSchema: z
    .object({
      context_id: ContextIdParam,
      path: FilePathParam,
      content: z.string().optional().describe('The file content: text, or base64 when encoding is "base64".'),
      encoding: z.enum(FILE_ENCODINGS).optional().describe('"utf-8" (default) or "base64".'),
      url: z.string().max(8192).optional().describe('Instead of content: a public http or https URL to download into the file.'),
    })
    .refine((args) => (args.content === undefined) !== (args.url === undefined), {
      message: 'give either content or url, not both and not neither',
    }),
  outputSchema: z.object({
    path: z.string().describe('The file as code inside sees it'),
    size: z.number().describe('Bytes written'),
    uri: z.string().describe('The file as an MCP resource'),
  }),
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
  async handler({ context_id, path, content, encoding, url }, deps, call) {
    const address = decodeContextId(deps, context_id);
    if (!address) return unknownContext(context_id);
    const checked = pathPartsOrFailure(path);
    if ('failure' in checked) return checked.failure;
    if (checked.parts.length === 0) return toolFailure('invalid_path', `"${path}" is the workspace itself: name a file in it`);
    let written: WrittenFile;
    try {
      if (url !== undefined) {
        const fetched = await fromUrl(deps, address.session, checked.path, url, call.signal);
        if ('failure' in fetched) return fetched.failure;
        written = fetched.written;
      } else {
        const text = content!;
        const base64 = encoding === 'base64';
        if (base64 && !BASE64.test(text.replace(/\s+/g, ''))) {
          return toolFailure('invalid_arguments', 'content is not valid base64 (encoding "base64" was given)');
        }
        const size = base64 ? Buffer.byteLength(text, 'base64') : Buffer.byteLength(text);
        if (size > deps.settings.maxFileBytes) return tooLarge(size, deps.settings.maxFileBytes);
        written = await deps.sandbox.writeFile(address.session, {
          path: checked.path,
          content: base64 ? text.replace(/\s+/g, '') : text,
          encoding: base64 ? 'base64' : 'utf-8',
          createDir: true,
        });
      }
    } catch (error) {
      return failureOf(error, context_id);
    }
    const structured = { path: written.path, size: written.size, uri: fileUri(context_id, checked.parts) };
    return toolResult(structured, `wrote ${written.size} bytes to ${written.path}`);
  },
});

function tooLarge(size: number, limit: number) {
  return toolFailure(
    'file_too_large',
    `the file is ${size} bytes, over this server's limit of ${limit} (MCP_MAX_FILE_BYTES); write it in parts or have code produce it`,
  );
}

/**
 * Downloads the URL (public addresses only) in full, then uploads it into the file.
 * The download comes first so that a slow server holds nothing of the sandbox's: the
 * session's file worker serves one request at a time, and an upload fed by a trickling
 * download kept it (and every list_files and read_file of the context) busy. The bytes
 * are held in memory, not spooled to a temp file (Function Compute's /tmp is small, shared
 * by the instance's requests and left behind by a crash): each download at most
 * MCP_MAX_FILE_BYTES, all of them together at most the process's download budget
 * (MCP_FETCH_MAX_BYTES_IN_FLIGHT), taken as the bytes arrive and given back once the upload
 * has ended. The chunks go to the upload as they came, never copied into one buffer.
 */
async function fromUrl(
  deps: ToolDeps,
  session: string,
  path: string,
  url: string,
  signal: AbortSignal,
): Promise<{ written: WrittenFile } | { failure: ReturnType<typeof toolFailure> }> {
  // Loaded on first use: only write_file with a url needs https and DNS.
  const { fetchPublicUrl } = await import('../net/public-fetch.ts');
  const budget = deps.downloads;
  const tenant = tenantKey(deps.tenant);
  let taken = 0;
  let refusedBy: 'process' | 'tenant' = 'process';
  /** Takes what `bytes` needs beyond what this download holds already; false when the budget has no room. */
  const holdUpTo = (bytes: number) => {
    if (bytes <= taken) return true;
    const answer = budget.take(tenant, bytes - taken);
    if (answer !== true) {
      refusedBy = answer;
      return false;
    }
    taken = bytes;
    return true;
  };
  const busy = (bytes: number) =>
    toolFailure(
      'fetch_failed',
      refusedBy === 'tenant'
        ? `your other write_file downloads in progress hold this server's share for one caller (${budget.perTenant} bytes, half of MCP_FETCH_MAX_BYTES_IN_FLIGHT), and this one needs ${bytes}; try again once they are done, or write the file in parts`
        : `this server is holding ${budget.held()} bytes of other write_file downloads, and ${bytes} more would pass its limit of ${budget.max} (MCP_FETCH_MAX_BYTES_IN_FLIGHT); try again shortly, or write the file in parts`,
    );
  try {
    // A fetch that fails throws its refusal (PublicFetchError), answered as any other (failureOf).
    const fetched = await fetchPublicUrl(url, {
      maxBytes: deps.settings.maxFileBytes,
      allowHosts: deps.settings.fetchAllowHosts,
      signal,
      deadlineMs: deps.settings.fetchTimeoutSeconds * 1000,
      minBytesPerSecond: deps.settings.fetchMinBytesPerSecond,
    });
    if (fetched.contentLength !== undefined && !holdUpTo(fetched.contentLength)) {
      await fetched.body.cancel();
      return { failure: busy(fetched.contentLength) };
    }
    const read = await readWithin(fetched.body, holdUpTo, (bytes) => budget.pace(tenant, bytes));
    if ('over' in read) return { failure: busy(read.over) };
    return { written: await deps.sandbox.uploadFile(session, path, streamOf(read.chunks), signal) };
  } finally {
    budget.give(tenant, taken);
  }
}

/**
 * Reads the body's chunks as they come, holding each in the budget first and reading on at the
 * tenant's pace; `over`: the bytes it had when the budget ran out.
 */
async function readWithin(
  body: ReadableStream<Uint8Array>,
  holdUpTo: (bytes: number) => boolean,
  pace: (bytes: number) => Promise<void>,
): Promise<{ chunks: Uint8Array[] } | { over: number }> {
  const chunks: Uint8Array[] = [];
  let received = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { chunks };
    received += value.length;
    if (!holdUpTo(received)) {
      await reader.cancel();
      return { over: received };
    }
    chunks.push(value);
    await pace(value.length);
  }
}

/** The chunks as a stream, each let go once the upload has taken it. */
function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let next = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (next === chunks.length) return controller.close();
      controller.enqueue(chunks[next]!);
      chunks[next++] = EMPTY;
    },
  });
}

const EMPTY = new Uint8Array(0);

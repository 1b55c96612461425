/**
 * The sandbox service's file API, in the shapes of Alibaba's code-interpreter image
 * (src/protocol/sandbox-api.ts FILE_ROUTES), scoped to the session's workspace. Paths are
 * checked here (workspace-path.ts); the IO itself is the session's file worker's,
 * inside the jail (file-worker.ts). Refusals are plain text with a precise status. A
 * session without a workspace gets one (counted: context-registry.ts openSpace), unless the
 * request carries EXISTING_SESSION_HEADER: then it is a 404 (UNKNOWN_SESSION_REFUSAL).
 */
import { randomUUID } from 'node:crypto';
import type { HttpBindings } from '@hono/node-server';
import busboy from 'busboy';
import type { Context as HonoContext, Hono } from 'hono';
import type { z } from 'zod';
import {
  EXISTING_SESSION_HEADER,
  FILE_ROUTES,
  fileText,
  MkdirRequest,
  MoveRequest,
  RemoveRequest,
  WriteFileRequest,
  type CompleteDirectoryListing,
  type CompleteEntryResponse,
  type FileContent,
  type WrittenFile,
} from '../../protocol/sandbox-api.ts';
import { WorkspacePathError, workspaceParts } from '../../protocol/workspace-path.ts';
import type { ContextRegistry } from '../contexts/context-registry.ts';
import type { FileWorker } from '../files/file-worker.ts';
import { Refusal } from '../refusal.ts';

export interface FileRouteDeps {
  registry: ContextRegistry;
  /** The session a request is for (its header, validated). */
  sessionOf(c: HonoContext): string;
  /** Parses a JSON body with a protocol schema (400 naming its issues otherwise). */
  parseBody<S extends z.ZodType>(c: HonoContext, schema: S): Promise<z.output<S>>;
  maxUploadBytes: number;
  maxReadBytes: number;
}

/** The most bytes a base64 POST /files body may take for a file of `bytes`, plus room for the JSON around it. */
export function filesBodyLimit(maxUploadBytes: number): number {
  return Math.ceil(maxUploadBytes / 3) * 4 + 64 * 1024;
}

export function addFileRoutes(app: Hono, deps: FileRouteDeps): void {
  const { registry, sessionOf } = deps;
  /** Whether the request may open its session's workspace (it does not say the session must exist). */
  const mayOpen = (c: HonoContext): boolean => c.req.header(EXISTING_SESSION_HEADER) === undefined;
  const worker = (c: HonoContext): Promise<FileWorker> => registry.files(sessionOf(c), { open: mayOpen(c) });

  app.get(FILE_ROUTES.files, async (c) => {
    const parts = pathParam(c);
    const files = await worker(c);
    const { entry, body } = await read(files, parts, deps.maxReadBytes);
    const bytes = Buffer.from(await new Response(body).arrayBuffer());
    const text = fileText(bytes);
    const content: FileContent = {
      ...entry,
      content: text ?? bytes.toString('base64'),
      encoding: text === undefined ? 'base64' : 'utf-8',
    };
    return c.json(content);
  });

  app.post(FILE_ROUTES.files, async (c) => {
    const request = await deps.parseBody(c, WriteFileRequest);
    const parts = checked(request.path);
    const bytes = Buffer.from(request.content, request.encoding === 'base64' ? 'base64' : 'utf8');
    if (bytes.length > deps.maxUploadBytes) throw overLimit(bytes.length, deps.maxUploadBytes, 'SANDBOX_MAX_UPLOAD_MB');
    const files = await worker(c);
    const written = await write(files, parts, { mode: request.mode, createDir: request.createDir ?? true }, [bytes], deps.maxUploadBytes);
    return c.json(written satisfies WrittenFile);
  });

  app.get(FILE_ROUTES.list, async (c) => {
    const parts = pathParam(c, true);
    const depth = Number(c.req.query('depth') ?? 1);
    if (!Number.isInteger(depth) || depth < 1 || depth > 10) {
      throw new Refusal('invalid_request', `depth must be an integer from 1 to 10, got "${c.req.query('depth')}"`);
    }
    return c.json((await refusing(async () => (await worker(c)).list(parts, depth))) satisfies CompleteDirectoryListing);
  });

  app.get(FILE_ROUTES.stat, async (c) => {
    const parts = pathParam(c, true);
    return c.json((await refusing(async () => (await worker(c)).stat(parts))) satisfies CompleteEntryResponse);
  });

  app.get(FILE_ROUTES.download, async (c) => {
    const parts = pathParam(c);
    const { entry, body } = await read(await worker(c), parts, deps.maxReadBytes);
    return new Response(body, {
      headers: {
        'Content-Type': 'application/octet-stream',
        'Content-Length': String(entry.size),
        'Content-Disposition': `attachment; filename*=UTF-8''${encodeURIComponent(entry.name)}`,
        'X-Content-Type-Options': 'nosniff',
      },
    });
  });

  app.post(FILE_ROUTES.upload, async (c) => {
    const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming;
    if (!incoming) throw new Error('the sandbox app must be served by @hono/node-server');
    const session = sessionOf(c);
    // Before a byte is read: a stopped session gets its 404, a sandbox at its limit its 429, at once.
    const open = mayOpen(c);
    if (open) registry.openSpace(session);
    else registry.requireSession(session);
    return c.json((await receiveUpload(incoming, () => registry.files(session, { open }), deps)) satisfies WrittenFile);
  });

  app.post(FILE_ROUTES.mkdir, async (c) => {
    const request = await deps.parseBody(c, MkdirRequest);
    const parts = checked(request.path);
    const made = await refusing(async () => (await worker(c)).mkdir(parts, { parents: request.parents ?? true, mode: request.mode }));
    return c.json(made satisfies CompleteEntryResponse);
  });

  app.post(FILE_ROUTES.move, async (c) => {
    const request = await deps.parseBody(c, MoveRequest);
    const [source, destination] = [checked(request.source), checked(request.destination)];
    return c.json((await refusing(async () => (await worker(c)).move(source, destination))) satisfies CompleteEntryResponse);
  });

  app.post(FILE_ROUTES.remove, async (c) => {
    const request = await deps.parseBody(c, RemoveRequest);
    const parts = checked(request.path);
    return c.json((await refusing(async () => (await worker(c)).remove(parts))) satisfies CompleteEntryResponse);
  });
}

/**
 * Streams a multipart upload into the file, with its fields in any order. When `path`
 * comes first (as AgentRun's Python SDK sends it) the bytes go straight to their file.
 * When `file` comes first (AgentRun's Node SDK), they are spooled to a hidden file at
 * the workspace's top, through the same worker and under the same quota, and renamed
 * to their path once it arrives: nothing is held in the server's memory either way.
 */
function receiveUpload(
  incoming: NodeJS.ReadableStream & { headers: Record<string, string | string[] | undefined> },
  files: () => Promise<FileWorker>,
  deps: FileRouteDeps,
): Promise<WrittenFile> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: incoming.headers as Record<string, string>,
        limits: { files: 1, fields: 4, fieldSize: 8192, fileSize: deps.maxUploadBytes + 1 },
      });
    } catch (error) {
      reject(new Refusal('invalid_request', `not a multipart upload: ${(error as Error).message}`));
      return;
    }
    let path: string | undefined;
    /** The spool's name when the bytes came before their path. */
    let spool: string | undefined;
    let writing: Promise<WrittenFile> | undefined;
    let file: (NodeJS.ReadableStream & { destroy(error?: Error): void }) | undefined;
    // A client that goes away mid-upload leaves the file stream waiting for bytes that never
    // come: end it with an error, so the worker drops the partial file and serves the next request.
    incoming.once('close', () => {
      if (!(incoming as { complete?: boolean }).complete) file?.destroy(new Refusal('client_closed', 'the upload was cut off'));
    });
    const fail = (error: unknown) => {
      incoming.unpipe(parser); // the rest is drained within bounds as the refusal goes out (sandbox-app.ts's onError)
      reject(error);
    };
    parser.on('field', (name, value) => {
      if (name === 'path') path = value;
    });
    parser.on('file', (name, stream) => {
      if (name !== 'file') return void stream.resume();
      file = stream;
      let target: string[];
      if (path === undefined) {
        spool = `.upload-${randomUUID()}`;
        target = [spool];
      } else {
        try {
          target = checked(path);
        } catch (error) {
          stream.resume();
          return fail(error);
        }
      }
      writing = files().then((worker) => write(worker, target, { createDir: true }, stream, deps.maxUploadBytes));
      writing.catch((error) => {
        stream.resume();
        fail(error);
      });
    });
    parser.on('error', (error: Error) => fail(new Refusal('invalid_request', `malformed multipart upload: ${error.message}`)));
    parser.on('close', () => {
      if (!writing) return reject(new Refusal('invalid_request', 'the upload has no "file" field'));
      if (spool === undefined) return void writing.then(resolve, reject);
      const spooled = spool;
      writing
        .then(async () => {
          const worker = await files();
          let parts: string[];
          try {
            if (path === undefined) throw new Refusal('invalid_request', 'the upload has no "path" field');
            parts = checked(path);
          } catch (error) {
            await worker.remove([spooled]).catch(() => {});
            throw error;
          }
          return refusing(() => worker.place(spooled, parts, { createDir: true }));
        })
        .then(resolve, reject);
    });
    incoming.pipe(parser);
  });
}

function pathParam(c: HonoContext, optional = false): string[] {
  const path = c.req.query('path');
  if (path === undefined || path === '') {
    if (optional) return [];
    throw new Refusal('invalid_request', 'the "path" query parameter is required');
  }
  return checked(path);
}

function checked(path: string): string[] {
  try {
    return workspaceParts(path);
  } catch (error) {
    if (error instanceof WorkspacePathError) throw new Refusal('invalid_request', error.message);
    throw error;
  }
}

function overLimit(size: number, limit: number, variable: string): Refusal {
  return new Refusal('too_large', `the file is ${size} bytes, over this sandbox's limit of ${limit} bytes (${variable})`);
}

async function read(files: FileWorker, parts: string[], maxBytes: number) {
  return refusing(() => files.read(parts, maxBytes), 'SANDBOX_MAX_READ_MB');
}

async function write(
  files: FileWorker,
  parts: string[],
  options: { mode?: string; createDir?: boolean },
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  maxBytes: number,
) {
  return refusing(() => files.write(parts, options, source, maxBytes), 'SANDBOX_MAX_UPLOAD_MB');
}

/** The worker's refusals as they are, but that a 413 names the variable that sets the limit. */
async function refusing<T>(run: () => Promise<T>, limitVariable?: string): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof Refusal && error.code === 'too_large' && limitVariable) {
      throw new Refusal('too_large', `${error.message} (${limitVariable})`);
    }
    throw error;
  }
}

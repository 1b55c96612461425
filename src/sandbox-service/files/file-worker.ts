/**
 * A session's file IO, done by file-worker.py inside the session's jail: the same
 * mounts, seccomp filter and host uid as its kernels, so the server never opens a
 * path that code inside controls (a planted or swapped symlink, a hard link to a
 * server-owned file). One request at a time, over the worker's stdin and stdout;
 * started on a session's first file request and ended with the session.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { baseKernelEnv, lendRunDir, spawnJailed } from '../jail/bubblewrap.ts';
import {
  type CompleteDirectoryListing,
  type CompleteEntryResponse,
  type CompleteFileEntry,
  refusalCodeForStatus,
  type WrittenFile,
} from '../../protocol/sandbox-api.ts';
import { Refusal } from '../refusal.ts';
import type { JailedProcess } from '../jail/jail-command.ts';
import type { SeccompFilters } from '../jail/seccomp-filter.ts';

const SCRIPT = readFileSync(new URL('./file-worker.py', import.meta.url), 'utf8');
const END = Buffer.alloc(4);
const ABORT = Buffer.from([0xff, 0xff, 0xff, 0xff]);
/** Upload bytes gathered into one frame for the worker. */
const FRAME_BYTES = 1024 * 1024;
/** Above this much unread output the worker's stdout is paused (a slow downloader must not fill memory). */
const HIGH_WATER = 1024 * 1024;

export interface FileWorkerSpec {
  /** Host path of the session's workspace. */
  workspace: string;
  workspaceMount: string;
  /** Where the worker's (empty) run directory goes. */
  runRoot: string;
  hostUid?: number;
  seccomp?: SeccompFilters;
  memoryMb: number;
  /** The worker ends after this long without a request (its space starts another on the next one); 0 = never. */
  idleMs?: number;
}

/** The worker's refusal (its status, from file-worker.py) as the sandbox's: its 404 is always a missing file. */
function workerRefusal(status: number, message: string): Refusal {
  return new Refusal(status === 404 ? 'file_not_found' : refusalCodeForStatus(status), message);
}

/** A successful reply of the worker, without its `ok` (which is the pipe's, not the answer's). */
type Reply = Record<string, unknown>;

export class FileWorker {
  readonly #process: JailedProcess;
  readonly #runDir: string;
  readonly #reader: ByteReader;
  #turn: Promise<void> = Promise.resolve();
  #ended = false;
  readonly #idleMs: number;
  /** Requests queued or running (a read until its stream is consumed). */
  #pending = 0;
  #idleTimer: NodeJS.Timeout | undefined;

  private constructor(process: JailedProcess, runDir: string, idleMs: number) {
    this.#process = process;
    this.#runDir = runDir;
    this.#idleMs = idleMs;
    this.#idleLater();
    this.#reader = new ByteReader(process.stdout!);
    process.stdin!.on('error', () => {});
    void process.exited.then(() => {
      this.#ended = true;
      this.#reader.end();
    });
  }

  static async start(spec: FileWorkerSpec): Promise<FileWorker> {
    const runDir = join(spec.runRoot, `files-${randomUUID()}`);
    await mkdir(runDir, { recursive: true, mode: 0o700 });
    await lendRunDir(runDir, spec.hostUid);
    const process = spawnJailed(
      {
        workspace: spec.workspace,
        workspaceMount: spec.workspaceMount,
        runDir,
        memoryMb: spec.memoryMb,
        allowNetwork: false,
        hostUid: spec.hostUid,
        seccompFilter: spec.seccomp?.code,
        env: baseKernelEnv(spec.workspaceMount),
        // The workspace where it is opened (rewritten to its host path without the jail) and,
        // without its leading slash so that it stays as it is, the path answers name it by.
        command: ['/usr/bin/python3', '-I', '-S', '-B', '-c', SCRIPT, spec.workspaceMount, spec.workspaceMount.replace(/^\//, '')],
      },
      { pipes: true },
    );
    return new FileWorker(process, runDir, spec.idleMs ?? 0);
  }

  get alive(): boolean {
    return !this.#ended;
  }

  stat(parts: string[]): Promise<CompleteEntryResponse> {
    return this.#exclusive(() => this.#ask({ op: 'stat', parts }));
  }

  list(parts: string[], depth: number): Promise<CompleteDirectoryListing> {
    return this.#exclusive(() => this.#ask({ op: 'list', parts, depth }));
  }

  mkdir(parts: string[], options: { parents: boolean; mode?: string }): Promise<CompleteEntryResponse> {
    return this.#exclusive(() => this.#ask({ op: 'mkdir', parts, ...options }));
  }

  move(parts: string[], destination: string[]): Promise<CompleteEntryResponse> {
    return this.#exclusive(() => this.#ask({ op: 'move', parts, destination }));
  }

  remove(parts: string[]): Promise<CompleteEntryResponse> {
    return this.#exclusive(() => this.#ask({ op: 'remove', parts }));
  }

  /**
   * The file's entry and its bytes as a stream; `maxBytes` over the file's size is a 413.
   * The worker is held until the stream is read to its end or cancelled.
   */
  read(parts: string[], maxBytes: number): Promise<CompleteEntryResponse & { body: ReadableStream<Uint8Array> }> {
    return new Promise((resolve, reject) => {
      void this.#exclusive(async () => {
        let reply: Reply;
        try {
          reply = await this.#ask<Reply>({ op: 'read', parts, max: maxBytes });
        } catch (error) {
          reject(error);
          return;
        }
        const reader = this.#reader;
        let finished = false;
        let release = () => {};
        const done = new Promise<void>((resolve) => {
          release = resolve;
        });
        const finish = () => {
          finished = true;
          release();
        };
        const body = new ReadableStream<Uint8Array>({
          async pull(controller) {
            try {
              const frame = await reader.frame();
              if (frame === undefined) {
                controller.close();
                finish();
              } else controller.enqueue(frame);
            } catch (error) {
              controller.error(error);
              finish();
            }
          },
          async cancel() {
            // The rest of the frames are drained, so the next request reads its own reply.
            try {
              while (!finished && (await reader.frame()) !== undefined);
            } catch {
              // the worker ended; the next request starts another
            }
            finish();
          },
        });
        resolve({ entry: reply.entry as CompleteFileEntry, body });
        await done;
      });
    });
  }

  /**
   * Writes `source` to the file (atomically: a temporary file renamed over it). More than
   * `maxBytes` aborts the write with a 413 and leaves nothing behind.
   */
  write(
    parts: string[],
    options: { mode?: string; createDir?: boolean },
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    maxBytes: number,
  ): Promise<WrittenFile> {
    return this.#exclusive(async () => {
      const stdin = this.#process.stdin!;
      this.#send(`${JSON.stringify({ op: 'write', parts, ...options })}\n`);
      let size = 0;
      let failure: unknown;
      try {
        // Small chunks (a multipart parser's 64 KiB) are gathered into larger frames: fewer
        // trips through the pipe and the worker's reads (a 20 MB upload: 232 → 212 ms p50).
        let pending: Uint8Array[] = [];
        let pendingBytes = 0;
        const flush = async () => {
          if (pendingBytes === 0) return;
          const header = Buffer.alloc(4);
          header.writeUInt32BE(pendingBytes);
          this.#send(header);
          const frame = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
          pending = [];
          pendingBytes = 0;
          if (!stdin.write(frame)) await new Promise((resolve) => stdin.once('drain', resolve));
        };
        for await (const chunk of source) {
          size += chunk.byteLength;
          if (size > maxBytes) throw new Refusal('too_large', `the upload is over the limit of ${maxBytes} bytes`);
          pending.push(chunk);
          pendingBytes += chunk.byteLength;
          if (pendingBytes >= FRAME_BYTES) await flush();
        }
        await flush();
        this.#send(END);
      } catch (error) {
        failure = error;
        this.#send(ABORT);
      }
      const reply = await this.#reply().catch((error) => {
        throw failure ?? error;
      });
      if (failure) throw failure;
      return { path: String(reply.path), size: Number(reply.size) };
    });
  }

  /**
   * Moves a file written at the workspace's top under the name `spool` to `parts`, as
   * `write` would have placed it (for an upload whose path came after its bytes). The
   * spool is gone afterwards, placed or not.
   */
  place(spool: string, parts: string[], options: { createDir?: boolean }): Promise<WrittenFile> {
    return this.#exclusive(async () => {
      const reply = await this.#ask<Reply>({ op: 'place', spool, parts, ...options });
      return { path: String(reply.path), size: Number(reply.size) };
    });
  }

  async close(): Promise<void> {
    this.#ended = true;
    clearTimeout(this.#idleTimer);
    await this.#process.kill();
    await rm(this.#runDir, { recursive: true, force: true });
  }

  #send(data: string | Buffer): void {
    if (this.#ended) throw new Refusal('unavailable', 'the file worker has ended');
    this.#process.stdin!.write(data);
  }

  async #ask<T>(request: Record<string, unknown>): Promise<T> {
    this.#send(`${JSON.stringify(request)}\n`);
    return (await this.#reply()) as unknown as T;
  }

  async #reply(): Promise<Reply> {
    let line: string;
    try {
      line = await this.#reader.line();
    } catch {
      const tail = this.#process.outputTail();
      throw new Refusal('unavailable', `the file worker ended${tail ? `: ${tail.slice(-500)}` : ''}`);
    }
    const reply = JSON.parse(line) as ({ ok: true } & Reply) | { ok: false; status: number; error: string };
    if (!reply.ok) throw workerRefusal(reply.status, reply.error);
    const { ok: _ok, ...answer } = reply;
    return answer;
  }

  /** Runs `task` once every earlier request is done with the worker's pipes. */
  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    this.#pending++;
    clearTimeout(this.#idleTimer);
    const result = this.#turn.then(task);
    this.#turn = result.then(
      () => this.#settled(),
      () => this.#settled(),
    );
    return result;
  }

  #settled(): void {
    if (--this.#pending === 0) this.#idleLater();
  }

  /**
   * An idle worker ends: 7 MB per session otherwise (bench/README.md, "Memory per context").
   * Its space starts a new one on the next request, in about 30 ms.
   */
  #idleLater(): void {
    if (this.#idleMs <= 0 || this.#ended) return;
    this.#idleTimer = setTimeout(() => {
      if (this.#pending === 0) void this.close().catch(() => {});
    }, this.#idleMs);
    this.#idleTimer.unref();
  }
}

/** Lines and length-prefixed frames from the worker's stdout, with backpressure. */
class ByteReader {
  readonly #stream: NodeJS.ReadableStream;
  /** Unread output, oldest first; joined only as far as a line or frame needs. */
  readonly #chunks: Buffer[] = [];
  #length = 0;
  #ended = false;
  #wake: (() => void) | undefined;

  constructor(stream: NodeJS.ReadableStream) {
    this.#stream = stream;
    stream.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#length += chunk.length;
      if (this.#length > HIGH_WATER) stream.pause();
      this.#notify();
    });
    stream.on('end', () => this.end());
    stream.on('error', () => this.end());
  }

  end(): void {
    this.#ended = true;
    this.#notify();
  }

  async line(): Promise<string> {
    for (let searched = 0; ; ) {
      let offset = 0;
      for (const chunk of this.#chunks) {
        if (offset + chunk.length > searched) {
          const at = chunk.indexOf(10, Math.max(0, searched - offset));
          if (at >= 0) return this.#take(offset + at + 1).toString('utf8', 0, offset + at);
        }
        offset += chunk.length;
      }
      searched = offset;
      await this.#more();
    }
  }

  /** The next frame's bytes, or undefined at the zero-length frame that ends a file. */
  async frame(): Promise<Uint8Array | undefined> {
    while (this.#length < 4) await this.#more();
    const length = this.#take(4).readUInt32BE(0);
    while (this.#length < length) await this.#more();
    return length === 0 ? undefined : this.#take(length);
  }

  #take(n: number): Buffer {
    let taken: Buffer;
    const first = this.#chunks[0]!;
    if (first.length >= n) {
      taken = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      taken = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const chunk = this.#chunks[0]!;
        const part = Math.min(chunk.length, n - filled);
        chunk.copy(taken, filled, 0, part);
        filled += part;
        if (part === chunk.length) this.#chunks.shift();
        else this.#chunks[0] = chunk.subarray(part);
      }
    }
    this.#length -= n;
    if (this.#length <= HIGH_WATER && this.#stream.isPaused()) this.#stream.resume();
    return taken;
  }

  async #more(): Promise<void> {
    if (this.#ended) throw new Error('the file worker ended');
    if (this.#stream.isPaused()) this.#stream.resume();
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
    });
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

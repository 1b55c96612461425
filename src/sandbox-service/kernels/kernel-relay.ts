/**
 * What a kernel sends this process passes a relay that measures its messages, so code cannot make
 * this process hold unbounded memory.
 * libzmq bounds a frame (ZMQ_MAXMSGSIZE) but not a message: it keeps a message's frames until
 * the last one has come, outside any queue limit, so one message of 1,000 frames of 1 MB each
 * took the service to 1 GB. The relay reads the ZeroMQ framing (ZMTP 3, RFC 37) of the bytes
 * coming from the kernel, passes them on unchanged, and cuts the connection at a message over
 * the limit, or at anything that is not ZMTP 3: the connection then drops, and the kernel is
 * dead to us (kernel-connection.ts). It only counts frame headers, it never copies a message.
 *
 * Our ZeroMQ socket connects to the relay's unix socket, in a directory only this process's
 * user may enter (kernels, jailed or not, run as other users); the relay connects to the
 * kernel's socket and takes the one connection it was made for.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What one message from a kernel may hold. */
export interface MessageLimits {
  /** Bytes of all its frames together. */
  maxMessageBytes: number;
}

/** Frames of one message at most: Jupyter messages have about ten (identities, signature, four parts, a few buffers). */
export const MAX_FRAMES = 1024;
/** A ZMTP 3 greeting: signature (10 bytes), version (2), mechanism (20), as-server (1), filler (31). */
const GREETING_BYTES = 64;

export interface Relay {
  /** Where our ZeroMQ socket connects, `ipc://…`. */
  endpoint: string;
  close(): void;
}

let relayDir: string | undefined;

/** This process's directory for relay sockets (mode 0700), made once and removed at exit. */
function privateDir(): string {
  if (relayDir === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-relays-'));
    relayDir = dir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return relayDir;
}

/**
 * Relays the kernel's `ipc://` endpoint through a meter; `onBreach` hears why the connection
 * was cut (before it drops) when the kernel broke a limit.
 */
export async function relayKernelSocket(kernelEndpoint: string, limits: MessageLimits, onBreach: (why: string) => void): Promise<Relay> {
  if (!kernelEndpoint.startsWith('ipc://')) throw new Error(`a kernel endpoint must be ipc:// (got ${kernelEndpoint})`);
  const kernelPath = kernelEndpoint.slice('ipc://'.length);
  const path = join(privateDir(), randomUUID());
  const server = createServer({ pauseOnConnect: true });
  const sockets: Socket[] = [];
  const close = () => {
    if (server.listening) server.close();
    for (const socket of sockets) socket.destroy();
  };
  server.on('error', close);
  server.once('connection', (ours) => {
    server.close(); // the one connection it was made for: no other is taken
    const theirs = createConnection(kernelPath);
    sockets.push(ours, theirs);
    const meter = new MessageMeter(limits);
    theirs.on('data', (chunk: Buffer) => {
      const breach = meter.take(chunk);
      if (breach) {
        onBreach(breach);
        close();
        return;
      }
      if (!ours.write(chunk)) theirs.pause();
    });
    ours.on('drain', () => theirs.resume());
    ours.pipe(theirs);
    ours.resume();
    for (const socket of [ours, theirs]) {
      socket.on('error', close);
      socket.on('close', close);
    }
  });
  server.listen(path);
  await once(server, 'listening');
  return { endpoint: `ipc://${path}`, close };
}

/** Reads ZMTP 3 framing as it streams by; says what is wrong at the first breach. */
export class MessageMeter {
  readonly #limits: MessageLimits;
  #greeting = Buffer.alloc(GREETING_BYTES);
  #greetingAt = 0;
  readonly #header = Buffer.alloc(9);
  #headerAt = 0;
  #bodyLeft = 0;
  #messageBytes = 0;
  #frames = 0;

  constructor(limits: MessageLimits) {
    this.#limits = limits;
  }

  /** Takes the next bytes; a description of the breach, or undefined while all is well. */
  take(chunk: Buffer): string | undefined {
    let at = 0;
    while (at < chunk.length) {
      if (this.#greetingAt < GREETING_BYTES) {
        const n = Math.min(GREETING_BYTES - this.#greetingAt, chunk.length - at);
        chunk.copy(this.#greeting, this.#greetingAt, at, at + n);
        this.#greetingAt += n;
        at += n;
        if (this.#greetingAt === GREETING_BYTES) {
          const greeting = this.#greeting;
          if (greeting[0] !== 0xff || (greeting[9]! & 1) !== 1 || greeting[10]! < 3) return 'it spoke something other than ZMTP 3';
        }
        continue;
      }
      if (this.#bodyLeft > 0) {
        const n = Math.min(this.#bodyLeft, chunk.length - at);
        this.#bodyLeft -= n;
        at += n;
        continue;
      }
      this.#header[this.#headerAt++] = chunk[at++]!;
      const flags = this.#header[0]!;
      if (flags & ~0x07) return 'it sent a malformed frame';
      const long = (flags & 0x02) !== 0;
      if (this.#headerAt < (long ? 9 : 2)) continue;
      this.#headerAt = 0;
      const size = long ? this.#header.readBigUInt64BE(1) : BigInt(this.#header[1]!);
      const max = this.#limits.maxMessageBytes;
      if (flags & 0x04) {
        // A command (READY, PING): not part of a message, and never large.
        if (size > BigInt(max)) return `it sent a message larger than ${max} bytes`;
        this.#bodyLeft = Number(size);
        continue;
      }
      this.#frames++;
      if (size > BigInt(max - this.#messageBytes)) return `it sent a message larger than ${max} bytes`;
      if (this.#frames > MAX_FRAMES) return `it sent a message of more than ${MAX_FRAMES} frames`;
      this.#messageBytes += Number(size);
      this.#bodyLeft = Number(size);
      if ((flags & 0x01) === 0) {
        this.#messageBytes = 0;
        this.#frames = 0;
      }
    }
    return undefined;
  }
}

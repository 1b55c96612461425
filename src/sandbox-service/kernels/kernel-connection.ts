/**
 * A client of the Jupyter messaging protocol (v5.3) over ZeroMQ: signed messages on
 * the shell, control and iopub channels of one kernel. It knows nothing about HTTP
 * or contexts; it sends requests and routes what comes back to whoever asked.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import * as zmq from 'zeromq';
import type { KernelEndpoints } from './kernel-launch.ts';
import { type MessageLimits, type Relay, relayKernelSocket } from './kernel-relay.ts';
import { within } from './time-limit.ts';

const DELIMITER = '<IDS|MSG>';
const PROTOCOL_VERSION = '5.3';
/**
 * Messages a socket holds received but not yet read. Past it libzmq stops reading the kernel's
 * socket and the kernel waits (or, on iopub, its own queue drops): what piles up does so in the
 * kernel's cgroup, not here. libzmq's default, 1,000 messages, let a kernel fill this process.
 */
const RECEIVE_QUEUE = 8;
/**
 * A receive loop gives the event loop back after this long, and rests as long again: messages
 * already queued are read one promise after another without a turn of the loop between them,
 * and a kernel flooding its iopub (500,000 empty stream messages) kept every other request of
 * the process (another tenant's, too) waiting behind them for hundreds of ms at a time. Given
 * only a turn, it still took most of the loop (another tenant's trivial run_code: p99 ×3.5 to ×5
 * its idle one); resting, it gets half at most (×1.4 to ×1.8), and what it sends meanwhile waits
 * in the kernel's own queue, which drops it past its bound as ZeroMQ's PUB sockets do. A kernel
 * needs more than 4 ms of reading at once only for such floods, or a message of megabytes.
 */
const RECEIVE_SLICE_MS = 4;
/** A pause between two messages longer than this means the loop waited for the second: its slice starts anew. */
const RECEIVE_GAP_MS = 1;

/** What this process takes from a kernel, outside every cgroup, so code cannot make it hold unbounded memory: beyond it the connection drops, and the kernel is dead to us. */
export type ConnectionLimits = MessageLimits;

export interface MessageHeader {
  msg_id: string;
  msg_type: string;
  session: string;
  username: string;
  date: string;
  version: string;
}

export interface KernelMessage {
  header: MessageHeader;
  parent_header: Partial<MessageHeader>;
  metadata: Record<string, unknown>;
  content: Record<string, unknown>;
}

export interface ExecuteOptions {
  /** Not stored in history and no execute_input/results broadcast (used for set-up snippets). */
  silent?: boolean;
  /** Called for every iopub message that belongs to this request, in order. */
  onIopub?: (message: KernelMessage) => void;
  /**
   * Keep routing this request's iopub messages to onIopub after `done`, until forget():
   * Deno's kernel may publish a result after its reply and `idle`.
   */
  linger?: boolean;
}

export interface ExecuteHandle {
  msgId: string;
  /** Resolves with execute_reply's content once the reply and the final iopub `idle` have both arrived. */
  done: Promise<Record<string, unknown>>;
}

interface PendingRequest {
  onIopub?: (message: KernelMessage) => void;
  linger: boolean;
  settled: boolean;
  reply?: Record<string, unknown>;
  idle: boolean;
  resolve: (content: Record<string, unknown>) => void;
  reject: (error: Error) => void;
}

/** How long open() waits for the first kernel_info_reply before it asks again (doubling, up to 1 s). */
const FIRST_KERNEL_INFO_WAIT_MS = 100;

export class KernelConnection {
  readonly #key: Buffer;
  readonly #session = randomUUID();
  // reconnectInterval -1: a dropped connection is never made again by path. The socket
  // path may by then lead elsewhere (code that could touch it could have put a symlink to
  // any host socket there); a kernel we lost is dead to us instead (`lost`).
  readonly #shell: zmq.Dealer;
  readonly #control: zmq.Dealer;
  readonly #iopub: zmq.Subscriber;
  #markLost!: (breach?: string) => void;
  /**
   * Resolves when a connection to the kernel dropped while open: treat the kernel as dead. With
   * the limit the kernel broke, when a relay cut it for that (else the kernel ended, or closed it).
   */
  readonly lost = new Promise<string | undefined>((resolve) => (this.#markLost = resolve));
  readonly #pending = new Map<string, PendingRequest>();
  /**
   * The last send on each channel: zeromq.js allows one send in progress per socket ("Socket is
   * busy writing"), and a Dealer's send waits while its peer (the relay, then the kernel) is not yet
   * connected, so two requests made at once (a context's first ones) must go one after the other.
   */
  readonly #lastSend: Record<'shell' | 'control', Promise<unknown>> = { shell: Promise.resolve(), control: Promise.resolve() };
  readonly #relays: Relay[];
  #closed = false;

  /** `endpoints`: the relays' (kernel-relay.ts), which measure what the kernel sends. */
  private constructor(
    endpoints: Pick<KernelEndpoints, 'shell' | 'control' | 'iopub'>,
    key: string,
    limits: ConnectionLimits,
    relays: Relay[],
  ) {
    this.#key = Buffer.from(key, 'utf8');
    this.#relays = relays;
    // A frame over maxMessageSize makes libzmq drop the connection before it allocates the frame
    // (a second line: the relays cut a message over the limit, whatever its frames).
    const options = { linger: 0, reconnectInterval: -1, maxMessageSize: limits.maxMessageBytes, receiveHighWaterMark: RECEIVE_QUEUE };
    this.#shell = new zmq.Dealer(options);
    this.#control = new zmq.Dealer(options);
    this.#iopub = new zmq.Subscriber(options);
    this.#shell.connect(endpoints.shell);
    this.#control.connect(endpoints.control);
    this.#iopub.connect(endpoints.iopub);
    this.#iopub.subscribe();
    for (const socket of [this.#shell, this.#control, this.#iopub]) {
      socket.events.on('disconnect', () => {
        // A relay that cut the connection said why first (the first call holds).
        if (!this.#closed) this.#markLost();
      });
    }
    void this.#receiveLoop(this.#shell, 'shell');
    void this.#receiveLoop(this.#control, 'control');
    void this.#receiveLoop(this.#iopub, 'iopub');
  }

  /**
   * Connects and waits until the kernel answers on shell *and* its iopub messages
   * reach us (a SUB socket misses what is published before its subscription lands).
   */
  static async open(endpoints: KernelEndpoints, key: string, limits: ConnectionLimits, timeoutMs = 30_000): Promise<KernelConnection> {
    let connection: KernelConnection | undefined;
    const breach = (why: string) => {
      if (connection) connection.#markLost(`${why} (the most the sandbox takes: SANDBOX_MAX_KERNEL_MESSAGE_BYTES)`);
    };
    const relays: Relay[] = [];
    try {
      for (const channel of ['shell', 'control', 'iopub'] as const)
        relays.push(await relayKernelSocket(endpoints[channel], limits, breach));
    } catch (error) {
      for (const relay of relays) relay.close();
      throw error;
    }
    const [shell, control, iopub] = relays.map((relay) => relay.endpoint) as [string, string, string];
    connection = new KernelConnection({ shell, control, iopub }, key, limits, relays);
    const deadline = Date.now() + timeoutMs;
    // Deno's kernel loses the first request of about one start in three (no reply, no iopub), and
    // answers the next in ~45 ms: ask again soon, then less often.
    let wait = FIRST_KERNEL_INFO_WAIT_MS;
    try {
      while (Date.now() < deadline) {
        let sawIopub = false;
        const { msgId, done } = connection.request('shell', 'kernel_info_request', {}, () => (sawIopub = true));
        const reply = await withTimeout(done, Math.min(wait, Math.max(deadline - Date.now(), 1)), 'kernel_info_reply');
        wait = Math.min(wait * 2, 1_000);
        connection.forget(msgId);
        if (sawIopub && reply) return connection;
        // The reply raced ahead of the subscription: ask again, now that it has had time to land.
      }
      throw new Error('the kernel did not answer kernel_info_request in time');
    } catch (error) {
      connection.close();
      throw error;
    }
  }

  /**
   * Sends execute_request on shell. stop_on_error is off: with it, ipykernel aborts
   * requests arriving just after an error, and we never queue requests in the kernel anyway.
   */
  execute(code: string, options: ExecuteOptions = {}): ExecuteHandle {
    const silent = options.silent ?? false;
    return this.request(
      'shell',
      'execute_request',
      { code, silent, store_history: !silent, user_expressions: {}, allow_stdin: false, stop_on_error: false },
      options.onIopub,
      true,
      options.linger,
    );
  }

  /** interrupt_request on the control channel (ipykernel SIGINTs itself; works while shell is busy). */
  async interrupt(timeoutMs = 2_000): Promise<void> {
    const { msgId, done } = this.request('control', 'interrupt_request', {}, undefined, false);
    await withTimeout(done, timeoutMs, 'interrupt_reply');
    this.forget(msgId);
  }

  /**
   * Sends a request; `done` settles when its reply has arrived and, when
   * `waitIdle`, the iopub `idle` status for it too (then all its output is in).
   */
  request(
    channel: 'shell' | 'control',
    msgType: string,
    content: Record<string, unknown>,
    onIopub?: (message: KernelMessage) => void,
    waitIdle = true,
    linger = false,
  ): ExecuteHandle {
    const header: MessageHeader = {
      msg_id: randomUUID(),
      msg_type: msgType,
      session: this.#session,
      username: 'sandbox',
      date: new Date().toISOString(),
      version: PROTOCOL_VERSION,
    };
    let resolve!: (content: Record<string, unknown>) => void;
    let reject!: (error: Error) => void;
    const done = new Promise<Record<string, unknown>>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    done.catch(() => {}); // callers that race it elsewhere must not leave an unhandled rejection
    if (this.#closed) {
      reject(new Error('the kernel connection is closed'));
      return { msgId: header.msg_id, done };
    }
    this.#pending.set(header.msg_id, { onIopub, linger, settled: false, idle: !waitIdle, resolve, reject });
    const parts = [JSON.stringify(header), '{}', '{}', JSON.stringify(content)];
    const socket = channel === 'shell' ? this.#shell : this.#control;
    const frames = [DELIMITER, this.#sign(parts), ...parts];
    this.#lastSend[channel] = this.#lastSend[channel]
      .then(() => socket.send(frames))
      .catch((error: Error) => this.#fail(header.msg_id, error));
    return { msgId: header.msg_id, done };
  }

  /** Stops waiting for a request's messages (its later output is dropped). */
  forget(msgId: string): void {
    this.#pending.delete(msgId);
  }

  /** Waits until the kernel has handled everything sent before (a kernel_info round trip). */
  async flush(timeoutMs = 2_000): Promise<void> {
    const { msgId, done } = this.request('shell', 'kernel_info_request', {});
    await withTimeout(done, timeoutMs, 'kernel_info_reply');
    this.forget(msgId);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const [msgId] of this.#pending) this.#fail(msgId, new Error('the kernel connection was closed'));
    this.#shell.close();
    this.#control.close();
    this.#iopub.close();
    for (const relay of this.#relays) relay.close();
  }

  #sign(parts: string[]): string {
    const hmac = createHmac('sha256', this.#key);
    for (const part of parts) hmac.update(part);
    return hmac.digest('hex');
  }

  #fail(msgId: string, error: Error): void {
    const pending = this.#pending.get(msgId);
    if (!pending) return;
    this.#pending.delete(msgId);
    pending.reject(error);
  }

  async #receiveLoop(socket: zmq.Dealer | zmq.Subscriber, channel: string): Promise<void> {
    try {
      let sliceStart = performance.now();
      let lastDone = sliceStart;
      for await (const frames of socket) {
        const arrived = performance.now();
        // A message the loop waited for starts a new slice: only reading without a pause counts.
        if (arrived - lastDone > RECEIVE_GAP_MS) sliceStart = arrived;
        const message = this.#decode(frames);
        if (message) this.#dispatch(message, channel);
        lastDone = performance.now();
        if (lastDone - sliceStart > RECEIVE_SLICE_MS) {
          await sleep(RECEIVE_SLICE_MS);
          sliceStart = lastDone = performance.now();
        }
      }
    } catch {
      // The socket was closed: nothing more will arrive.
    }
  }

  #decode(frames: Buffer[]): KernelMessage | undefined {
    const at = frames.findIndex((frame) => frame.length === DELIMITER.length && frame.toString() === DELIMITER);
    if (at < 0 || frames.length < at + 6) return undefined;
    const signature = frames[at + 1]!;
    const parts = frames.slice(at + 2, at + 6).map((frame) => frame.toString('utf8'));
    const expected = Buffer.from(this.#sign(parts), 'utf8');
    // A message with a bad signature did not come from our kernel: drop it.
    if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) return undefined;
    try {
      return {
        header: JSON.parse(parts[0]!),
        parent_header: JSON.parse(parts[1]!),
        metadata: JSON.parse(parts[2]!),
        content: JSON.parse(parts[3]!),
      };
    } catch {
      return undefined;
    }
  }

  #dispatch(message: KernelMessage, channel: string): void {
    const parentId = message.parent_header.msg_id;
    if (!parentId) return;
    const pending = this.#pending.get(parentId);
    if (!pending) return;
    if (channel === 'iopub') {
      pending.onIopub?.(message);
      if (message.header.msg_type === 'status' && message.content.execution_state === 'idle') pending.idle = true;
    } else if (message.header.msg_type.endsWith('_reply')) {
      pending.reply = message.content;
    }
    if (pending.reply && pending.idle && !pending.settled) {
      pending.settled = true;
      if (!pending.linger) this.#pending.delete(parentId);
      pending.resolve(pending.reply);
    }
  }
}

/** Resolves with the promise's value, or undefined when `ms` pass first; a failure names the reply awaited. */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T | undefined> {
  return within(promise, ms).catch((error: Error) => {
    throw new Error(`${what} failed: ${error.message}`);
  });
}

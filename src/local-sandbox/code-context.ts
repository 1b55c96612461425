/**
 * One code context: a kernel that keeps its state between executions, run one
 * execution at a time. Here live the rules about time, output and death:
 *
 * - timeout: the kernel is interrupted and the stream gets a `TimeoutError`; the
 *   variables survive. A kernel that does not stop within a grace period after the
 *   interrupt is restarted (and the error says its state is lost).
 * - output cap: past the limit the output is cut with a marker, the kernel is
 *   interrupted, and the stream gets an `OutputLimitExceeded` error.
 * - the client goes away: the kernel is interrupted, nothing more is sent.
 * - the kernel dies (os._exit, killed): a `KernelDiedError`, and the context
 *   gets a fresh kernel at once (same id, same workspace, state lost).
 */
import { SANDBOX_ERROR_NAMES, type Context, type ExecutionEvent, type Language } from '../sandbox/protocol.ts';
import { errorFromContent, eventFromIopub, outputSize } from './kernel-events.ts';
import type { KernelConnection, KernelMessage } from './kernel-connection.ts';
import { SNIPPETS } from './language-snippets.ts';
import { describeExit } from './kernel-launch.ts';
import type { RunningKernel } from './running-kernel.ts';

/** How long an interrupted kernel gets to become idle before it is restarted. */
const INTERRUPT_GRACE_MS = 5_000;

export interface ExecuteParams {
  code: string;
  timeoutMs: number;
  outputLimitBytes: number;
  envVars?: Record<string, string>;
  /** Aborted when the client has gone away. */
  signal?: AbortSignal;
  emit(event: ExecutionEvent): void;
}

export interface CodeContextInit {
  id: string;
  session: string;
  language: Language;
  cwd: string;
  metadata?: Record<string, string>;
  kernel: RunningKernel;
  /** Starts a fresh kernel for this context (same language and workspace). */
  startKernel(): Promise<RunningKernel>;
  /** Called when the context cannot go on (its kernel died and would not restart). */
  onGone(context: CodeContext): void;
}

/** Why an execution was stopped by the server rather than finishing by itself. */
type StopReason = 'timeout' | 'output' | 'abort';

export class CodeContext {
  readonly id: string;
  readonly session: string;
  readonly language: Language;
  readonly cwd: string;
  readonly metadata: Record<string, string> | undefined;
  readonly createdAt = new Date();
  lastUsed = new Date();
  #kernel: RunningKernel;
  readonly #startKernel: () => Promise<RunningKernel>;
  /** Executions and restarts run one after another. */
  #queue: Promise<unknown> = Promise.resolve();
  #busy = 0;
  #closed = false;
  /** The restart after the kernel died on its own (true when it worked). */
  #revival: Promise<boolean> | undefined;
  /** Kernels the context itself is stopping: their exit is not a death. */
  readonly #retired = new WeakSet<RunningKernel>();
  readonly #onGone: (context: CodeContext) => void;

  constructor(init: CodeContextInit) {
    this.id = init.id;
    this.session = init.session;
    this.language = init.language;
    this.cwd = init.cwd;
    this.metadata = init.metadata;
    this.#kernel = init.kernel;
    this.#startKernel = init.startKernel;
    this.#onGone = init.onGone;
    this.#watch(init.kernel);
  }

  /** True while an execution or restart is queued or running (idle removal leaves it alone). */
  get busy(): boolean {
    return this.#busy > 0;
  }

  toJSON(): Context {
    return {
      id: this.id,
      language: this.language,
      cwd: this.cwd,
      created_at: this.createdAt.toISOString(),
      last_used: this.lastUsed.toISOString(),
      ...(this.metadata ? { metadata: this.metadata } : {}),
    };
  }

  /** Runs silent set-up code (e.g. chdir) and throws with the kernel's error if it fails. */
  async prepare(): Promise<void> {
    await this.#exclusive(() => this.#runSilent(SNIPPETS[this.language].chdir(this.cwd)));
  }

  execute(params: ExecuteParams): Promise<void> {
    return this.#exclusive(() => this.#execute(params));
  }

  /** A fresh kernel, same id and workspace; variables are gone. */
  restart(): Promise<void> {
    return this.#exclusive(() => this.#replaceKernel());
  }

  get closed(): boolean {
    return this.#closed;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#revival;
    await this.#kernel.stop();
  }

  async #exclusive<T>(task: () => Promise<T>): Promise<T> {
    this.#busy++;
    const run = this.#queue.then(async () => {
      if (this.#closed) throw new ContextClosedError(this.id);
      await this.#revival;
      return task();
    });
    this.#queue = run.catch(() => {});
    try {
      return await run;
    } finally {
      this.#busy--;
      this.lastUsed = new Date();
    }
  }

  /** A kernel that dies on its own is replaced at once, so the next call finds one. */
  #watch(kernel: RunningKernel): void {
    void kernel.exited.then(() => {
      if (this.#closed || kernel !== this.#kernel || this.#retired.has(kernel)) return;
      this.#revival = this.#revive();
    });
  }

  /** Replaces a dead kernel; if that fails the context is gone for good. */
  async #revive(): Promise<boolean> {
    try {
      await this.#replaceKernel();
      return true;
    } catch {
      this.#closed = true;
      this.#onGone(this);
      return false;
    }
  }

  async #replaceKernel(): Promise<void> {
    const old = this.#kernel;
    this.#retired.add(old);
    await old.stop();
    if (this.#closed) return;
    const kernel = await this.#startKernel();
    if (this.#closed) {
      await kernel.stop();
      return;
    }
    this.#kernel = kernel;
    this.#watch(kernel);
    await this.#runSilent(SNIPPETS[this.language].chdir(this.cwd));
  }

  async #runSilent(code: string): Promise<void> {
    let failure: Record<string, unknown> | undefined;
    const { done } = this.#kernel.connection.execute(code, {
      silent: true,
      onIopub: (message) => {
        if (message.header.msg_type === 'error') failure = message.content;
      },
    });
    const reply = await Promise.race([done, this.#kernel.exited.then(() => undefined)]);
    if (!reply) throw new Error('the kernel died');
    if (failure || reply.status === 'error') {
      const error = errorFromContent(failure ?? reply);
      throw new Error(`${error.name}: ${error.value}`);
    }
  }

  async #execute(params: ExecuteParams): Promise<void> {
    // The client left while this waited its turn: do not run code nobody will see.
    if (params.signal?.aborted) return;
    const kernel = this.#kernel;
    const connection = kernel.connection;
    const snippets = SNIPPETS[this.language];
    const hasEnv = params.envVars && Object.keys(params.envVars).length > 0;
    if (hasEnv) await this.#runSilent(snippets.setEnv(params.envVars!));

    let stopReason: StopReason | undefined;
    let outputBytes = 0;
    let sentError = false;
    const emit = (event: ExecutionEvent) => {
      if (stopReason === 'abort') return;
      if (event.type === 'error') {
        // After the server stopped the code, the kernel's own KeyboardInterrupt is noise: ours says why.
        if (stopReason || sentError) return;
        sentError = true;
      }
      params.emit(event);
    };

    let stop!: (reason: StopReason) => void;
    const stopped = new Promise<StopReason>((resolve) => {
      stop = (reason) => {
        if (stopReason) return;
        stopReason = reason;
        resolve(reason);
      };
    });

    const onIopub = (message: KernelMessage) => {
      const event = eventFromIopub(message);
      if (!event || stopReason) return;
      const size = outputSize(event);
      if (outputBytes + size > params.outputLimitBytes) {
        const room = params.outputLimitBytes - outputBytes;
        if ((event.type === 'stdout' || event.type === 'stderr') && room > 0) {
          emit({ ...event, text: Buffer.from(event.text).subarray(0, room).toString('utf8') });
        }
        outputBytes = params.outputLimitBytes;
        emit({
          type: 'stderr',
          text: `\n[output truncated: this execution exceeded the limit of ${params.outputLimitBytes} bytes]\n`,
          timestamp: Date.now(),
        });
        stop('output');
        return;
      }
      outputBytes += size;
      emit(event);
    };

    const handle = connection.execute(params.code, { onIopub, linger: snippets.lateOutput });
    const timer = setTimeout(() => stop('timeout'), params.timeoutMs);
    const onAbort = () => stop('abort');
    if (params.signal?.aborted) onAbort();
    params.signal?.addEventListener('abort', onAbort, { once: true });

    try {
      const outcome = await Promise.race([
        handle.done.then(
          (reply) => ({ kind: 'done' as const, reply }),
          () => ({ kind: 'lost' as const }),
        ),
        kernel.exited.then(() => ({ kind: 'died' as const })),
        stopped.then((reason) => ({ kind: reason })),
      ]);
      if (outcome.kind === 'died' || outcome.kind === 'lost') {
        await this.#reportDeath(kernel, emit);
        return;
      }
      if (outcome.kind === 'done') {
        if (snippets.lateOutput) await connection.flush().catch(() => {});
        // Deno reports a syntax error only in the reply, with no iopub `error`.
        if (outcome.reply.status === 'error') emit(errorFromContent(outcome.reply));
      } else {
        const stoppedCleanly = (await this.#interrupt(connection, handle.done, kernel)) && (await this.#responsive(connection));
        if (outcome.kind !== 'abort') params.emit(this.#stopError(outcome.kind, params, stoppedCleanly));
        if (!stoppedCleanly) {
          await this.#replaceKernel();
          return;
        }
      }
      if (hasEnv) await this.#runSilent(snippets.restoreEnv()).catch(() => {});
    } finally {
      clearTimeout(timer);
      params.signal?.removeEventListener('abort', onAbort);
      connection.forget(handle.msgId);
    }
  }

  /**
   * After an interrupt: does the kernel take new code? Deno answers an interrupt yet goes
   * on with an execution that awaits, so a reply alone does not prove it stopped.
   */
  async #responsive(connection: KernelConnection): Promise<boolean> {
    const { msgId, done } = connection.execute('', { silent: true });
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), INTERRUPT_GRACE_MS)));
    try {
      return await Promise.race([
        done.then(
          () => true,
          () => false,
        ),
        grace,
      ]);
    } finally {
      clearTimeout(timer);
      connection.forget(msgId);
    }
  }

  /** Interrupts and waits for the execution to wind down; false if the kernel would not stop. */
  async #interrupt(connection: KernelConnection, done: Promise<unknown>, kernel: RunningKernel): Promise<boolean> {
    await connection.interrupt().catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), INTERRUPT_GRACE_MS)));
    try {
      return await Promise.race([
        done.then(
          () => true,
          () => false,
        ),
        kernel.exited.then(() => false),
        grace,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  #stopError(reason: 'timeout' | 'output', params: ExecuteParams, settled: boolean): ExecutionEvent {
    const lost = settled ? '' : ' The kernel did not stop when interrupted and was restarted: its variables are lost.';
    if (reason === 'timeout') {
      const seconds = params.timeoutMs / 1000;
      return {
        type: 'error',
        name: SANDBOX_ERROR_NAMES.timeout,
        value: `Execution exceeded the timeout of ${seconds} s and was interrupted.${lost}`,
        traceback: '',
      };
    }
    return {
      type: 'error',
      name: SANDBOX_ERROR_NAMES.outputLimit,
      value: `Execution produced more than ${params.outputLimitBytes} bytes of output and was interrupted.${lost}`,
      traceback: '',
    };
  }

  async #reportDeath(kernel: RunningKernel, emit: (event: ExecutionEvent) => void): Promise<void> {
    const exit = await kernel.exited;
    this.#revival ??= this.#revive();
    const restarted = await this.#revival;
    if (this.#closed) {
      emit({ type: 'error', name: SANDBOX_ERROR_NAMES.context, value: 'The context was deleted while this code ran.', traceback: '' });
      return;
    }
    emit({
      type: 'error',
      name: SANDBOX_ERROR_NAMES.kernelDied,
      value: restarted
        ? `The kernel died (${describeExit(exit)}), for instance by exiting or running out of memory. The context was restarted with a fresh kernel: its variables and imports are lost.`
        : `The kernel died (${describeExit(exit)}) and could not be restarted.`,
      traceback: '',
    });
  }
}

export class ContextClosedError extends Error {
  constructor(id: string) {
    super(`context ${id} was deleted`);
    this.name = 'ContextClosedError';
  }
}

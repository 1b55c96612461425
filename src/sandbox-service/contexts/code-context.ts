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
 * - cancelled (`cancel`): the kernel is interrupted and the stream gets a `CancelledError`.
 * - the kernel dies (os._exit, killed): a `KernelDiedError`, and the context
 *   gets a fresh kernel at once (same id, same workspace, state lost).
 */
import type { ContextEgress } from '../egress/context-egress.ts';
import { SANDBOX_ERROR_NAMES, type Context, type ExecutionEvent, type Language } from '../../protocol/sandbox-api.ts';
import { ExecutionOutput, type StopReason } from './execution-output.ts';
import { errorFromContent } from '../kernels/kernel-events.ts';
import type { KernelConnection } from '../kernels/kernel-connection.ts';
import { SNIPPETS } from '../kernels/language-snippets.ts';
import { describeExit } from '../kernels/kernel-launch.ts';
import type { RunningKernel } from '../kernels/running-kernel.ts';
import { within } from '../kernels/time-limit.ts';

/** How long an interrupted kernel gets to become idle before it is restarted. */
const INTERRUPT_GRACE_MS = 5_000;

/** What code to run and within which bounds: one shape for a run (executions.ts) and the execution it becomes. */
export interface CodeRequest {
  code: string;
  timeoutMs: number;
  outputLimitBytes: number;
  /** Output events one execution may produce (SANDBOX_MAX_OUTPUT_EVENTS). */
  outputLimitEvents: number;
  envVars?: Record<string, string>;
}

/** One execution on this context's kernel: the request, and how it is told apart and reported. */
export interface ExecuteParams extends CodeRequest {
  /** Aborted when the client has gone away. */
  signal?: AbortSignal;
  /** Aborted when someone asks the execution to stop (it is told so, unlike a client that left). */
  cancel?: AbortSignal;
  /** Aborted, its reason saying what ("more … than …"), when the run holds more output than the server keeps for it. */
  overLimit?: AbortSignal;
  /** Awaited once this execution has the kernel, before its code is sent (e.g. a look at the workspace). */
  onStart?(): Promise<void>;
  /** Awaited after the code ended by itself or was stopped, while the execution still holds the kernel. */
  onEnd?(): Promise<void>;
  emit(event: ExecutionEvent): void;
}

export interface CodeContextInit {
  id: string;
  session: string;
  language: Language;
  cwd: string;
  metadata?: Record<string, string>;
  kernel: RunningKernel;
  /** Its way out through the policy proxy (egress/), its kernels' and installers'; unset where jails get none. */
  egress?: ContextEgress;
  /** Starts a fresh kernel for this context (same language and workspace). */
  startKernel(): Promise<RunningKernel>;
  /** Called when the context cannot go on (its kernel died and would not restart). */
  onGone(context: CodeContext): void;
}

export class CodeContext {
  readonly id: string;
  readonly session: string;
  readonly language: Language;
  readonly cwd: string;
  readonly metadata: Record<string, string> | undefined;
  readonly createdAt = new Date();
  /** Its network policy and install allowances (egress/context-egress.ts); unset where jails get no way out. */
  readonly egress: ContextEgress | undefined;
  lastUsed = new Date();
  #kernel: RunningKernel;
  readonly #startKernel: () => Promise<RunningKernel>;
  /** Executions and restarts run one after another. */
  #queue: Promise<unknown> = Promise.resolve();
  #busy = 0;
  /** Executions and restarts queued that have not had their turn yet. */
  #waiting = 0;
  #closed = false;
  /** What an execution cut short by close() is told. */
  #closedBecause = 'The context was deleted while this code ran.';
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
    this.egress = init.egress;
    this.#kernel = init.kernel;
    this.#startKernel = init.startKernel;
    this.#onGone = init.onGone;
    this.#watch(init.kernel);
  }

  /** True while an execution or restart is queued or running (idle removal leaves it alone). */
  /** Host pid of the context's current kernel (its processes descend from it). */
  get kernelPid(): number {
    return this.#kernel.pid;
  }

  get busy(): boolean {
    return this.#busy > 0;
  }

  /** How many executions (or restarts) wait for their turn, behind the one under way. */
  get waiting(): number {
    return this.#waiting;
  }

  toJSON(): Context {
    return {
      id: this.id,
      language: this.language,
      cwd: this.cwd,
      created_at: this.createdAt.toISOString(),
      last_used: this.lastUsed.toISOString(),
      ...(this.metadata ? { metadata: this.metadata } : {}),
      ...(this.egress ? { allowOut: [...this.egress.policy.allowOut], denyOut: [...this.egress.policy.denyOut] } : {}),
    };
  }

  /** Runs silent set-up code (e.g. chdir) and throws with the kernel's error if it fails. */
  async prepare(): Promise<void> {
    await this.#exclusive(() => this.#runSilent(SNIPPETS[this.language].chdir(this.cwd)));
  }

  /**
   * Makes packages installed into the workspace since the kernel started importable in it, without
   * a restart (its variables stay): after any execution under way, like one.
   */
  async activatePackages(): Promise<void> {
    const snippet = SNIPPETS[this.language].activatePackages;
    if (snippet) await this.#exclusive(() => this.#runSilent(snippet));
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

  /** Stops the context; an execution in flight ends with an error saying `because` (default: the context was deleted). */
  async close(because?: string): Promise<void> {
    if (because && !this.#closed) this.#closedBecause = because;
    this.#closed = true;
    await this.#revival;
    await this.#kernel.stop();
  }

  async #exclusive<T>(task: () => Promise<T>): Promise<T> {
    this.#busy++;
    this.#waiting++;
    let waits = true;
    const turn = () => {
      if (waits) this.#waiting--;
      waits = false;
    };
    const run = this.#queue.then(async () => {
      turn();
      if (this.#closed) throw new ContextClosedError(this.id);
      await this.#revival;
      return task();
    });
    this.#queue = run.catch(() => {});
    try {
      return await run;
    } finally {
      turn();
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
    if (params.cancel?.aborted) {
      params.emit(cancelledError('The run was cancelled before it started.'));
      return;
    }
    await params.onStart?.();
    const kernel = this.#kernel;
    const snippets = SNIPPETS[this.language];
    const hasEnv = params.envVars !== undefined && Object.keys(params.envVars).length > 0;
    if (hasEnv) await this.#runSilent(snippets.setEnv(params.envVars!));

    const output = new ExecutionOutput(params.emit, params.outputLimitBytes, params.outputLimitEvents);
    const handle = kernel.connection.execute(params.code, { onIopub: output.add, linger: snippets.lateOutput });
    const disarm = stopOnTimeoutOrAbort(output, params);
    try {
      const outcome = await firstOutcome(handle.done, kernel.exited, output.stopped);
      if (outcome.kind === 'died' || outcome.kind === 'lost') {
        await this.#reportDeath(kernel, output.emit);
        return;
      }
      if (outcome.kind === 'done') {
        await this.#finish(kernel.connection, outcome.reply, output, params.code);
      } else if (!(await this.#stopCode(kernel, handle.done, outcome.kind, params, output.overflow))) {
        return; // the kernel was replaced: nothing of this execution is left to undo
      }
      if (hasEnv) await this.#runSilent(snippets.restoreEnv()).catch(() => {});
      await params.onEnd?.();
    } finally {
      disarm();
      kernel.connection.forget(handle.msgId);
    }
  }

  /** The code ended by itself: the last of its output is in, and an error only the reply carries is sent. */
  async #finish(connection: KernelConnection, reply: Record<string, unknown>, output: ExecutionOutput, code: string): Promise<void> {
    if (SNIPPETS[this.language].lateOutput) await connection.flush().catch(() => {});
    // Deno reports a syntax error only in the reply, with no iopub `error` and no message.
    if (reply.status !== 'error' || output.sentError) return;
    const explain = SNIPPETS[this.language].explainFailure;
    output.emit((explain && (await this.#explain(explain(code)))) || errorFromContent(reply));
  }

  /** The error a silent run of `code` raises, if any. */
  async #explain(code: string): Promise<ExecutionEvent | undefined> {
    let failure: Record<string, unknown> | undefined;
    const { msgId, done } = this.#kernel.connection.execute(code, {
      silent: true,
      onIopub: (message) => {
        if (message.header.msg_type === 'error') failure = message.content;
      },
    });
    try {
      await within(settledWell(done), INTERRUPT_GRACE_MS);
    } finally {
      this.#kernel.connection.forget(msgId);
    }
    return failure && errorFromContent(failure);
  }

  /**
   * The server stopped the code: interrupts it, tells the client why (unless it left), and
   * restarts a kernel that would not stop. True when the kernel (and its variables) stayed.
   */
  async #stopCode(
    kernel: RunningKernel,
    done: Promise<unknown>,
    reason: StopReason,
    params: ExecuteParams,
    overflow: string | undefined,
  ): Promise<boolean> {
    const connection = kernel.connection;
    const stoppedCleanly = (await this.#interrupt(connection, done, kernel)) && (await this.#responsive(connection));
    if (reason !== 'abort') params.emit(this.#stopError(reason, params, stoppedCleanly, overflow));
    if (!stoppedCleanly) await this.#replaceKernel();
    return stoppedCleanly;
  }

  /**
   * After an interrupt: does the kernel take new code? Deno answers an interrupt yet goes
   * on with an execution that awaits, so a reply alone does not prove it stopped.
   */
  async #responsive(connection: KernelConnection): Promise<boolean> {
    const { msgId, done } = connection.execute('', { silent: true });
    try {
      return (await within(settledWell(done), INTERRUPT_GRACE_MS)) ?? false;
    } finally {
      connection.forget(msgId);
    }
  }

  /** Interrupts and waits for the execution to wind down; false if the kernel would not stop. */
  async #interrupt(connection: KernelConnection, done: Promise<unknown>, kernel: RunningKernel): Promise<boolean> {
    await connection.interrupt().catch(() => {});
    const woundDown = Promise.race([settledWell(done), kernel.exited.then(() => false)]);
    return (await within(woundDown, INTERRUPT_GRACE_MS)) ?? false;
  }

  #stopError(reason: Exclude<StopReason, 'abort'>, params: ExecuteParams, settled: boolean, overflow?: string): ExecutionEvent {
    const lost = settled ? '' : ' The kernel did not stop when interrupted and was restarted: its variables are lost.';
    if (reason === 'cancel')
      return cancelledError(`The run was cancelled and interrupted.${lost || ' The context and its variables remain.'}`);
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
      value: `Execution produced ${overflow ?? `more than ${params.outputLimitBytes} bytes of output`} and was interrupted.${lost}`,
      traceback: '',
    };
  }

  async #reportDeath(kernel: RunningKernel, emit: (event: ExecutionEvent) => void): Promise<void> {
    const exit = await kernel.exited;
    this.#revival ??= this.#revive();
    const restarted = await this.#revival;
    if (this.#closed) {
      emit({ type: 'error', name: SANDBOX_ERROR_NAMES.context, value: this.#closedBecause, traceback: '' });
      return;
    }
    const lost = kernel.lostBecause;
    const died = lost
      ? `The kernel was stopped: ${lost}.`
      : `The kernel died (${describeExit(exit)}), for instance by exiting or running out of memory.`;
    emit({
      type: 'error',
      name: SANDBOX_ERROR_NAMES.kernelDied,
      value: restarted
        ? `${died} The context was restarted with a fresh kernel: its variables and imports are lost.`
        : `${died} It could not be restarted.`,
      traceback: '',
    });
  }
}

/** How an execution's wait ended: its reply, the kernel gone, or the server stopping it. */
type Outcome = { kind: 'done'; reply: Record<string, unknown> } | { kind: 'lost' } | { kind: 'died' } | { kind: StopReason };

function firstOutcome(done: Promise<Record<string, unknown>>, exited: Promise<unknown>, stopped: Promise<StopReason>): Promise<Outcome> {
  return Promise.race<Outcome>([
    done.then(
      (reply) => ({ kind: 'done', reply }),
      () => ({ kind: 'lost' }),
    ),
    exited.then(() => ({ kind: 'died' })),
    stopped.then((reason) => ({ kind: reason })),
  ]);
}

/** Arms the execution's timeout, the client's leaving and a cancel; returns the disarm function. */
function stopOnTimeoutOrAbort(output: ExecutionOutput, params: ExecuteParams): () => void {
  const timer = setTimeout(() => output.stop('timeout'), params.timeoutMs);
  const onAbort = () => output.stop('abort');
  const onCancel = () => output.stop('cancel');
  const onOverLimit = () => output.overLimit(String(params.overLimit?.reason));
  if (params.signal?.aborted) onAbort();
  if (params.cancel?.aborted) onCancel();
  if (params.overLimit?.aborted) onOverLimit();
  params.signal?.addEventListener('abort', onAbort, { once: true });
  params.cancel?.addEventListener('abort', onCancel, { once: true });
  params.overLimit?.addEventListener('abort', onOverLimit, { once: true });
  return () => {
    clearTimeout(timer);
    params.signal?.removeEventListener('abort', onAbort);
    params.cancel?.removeEventListener('abort', onCancel);
    params.overLimit?.removeEventListener('abort', onOverLimit);
  };
}

function cancelledError(value: string): ExecutionEvent {
  return { type: 'error', name: SANDBOX_ERROR_NAMES.cancelled, value, traceback: '' };
}

/** True once the request's reply is in, false if it failed (the connection closed). */
function settledWell(done: Promise<unknown>): Promise<boolean> {
  return done.then(
    () => true,
    () => false,
  );
}

class ContextClosedError extends Error {
  constructor(id: string) {
    super(`context ${id} was deleted`);
    this.name = 'ContextClosedError';
  }
}

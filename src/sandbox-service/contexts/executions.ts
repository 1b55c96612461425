/**
 * Every execution the sandbox runs, as a run it keeps a record of: what lets a request other
 * than the one that started it stop it (by its tag: an MCP cancel reaching any instance) or
 * read it (a held run: the code goes on after its /execute stream ended, its events kept here
 * for `POST /runs/{id}/events`, which any request may long-poll).
 *
 * A run streams to its /execute response while that lasts. With `holdAfterMs`, a run still
 * going then is held: the stream gets `run_held` and ends, later events are buffered (bounded
 * by the execution's output cap, which ExecutionOutput enforces; keepalives are not kept), and
 * the record stays until its last event has been read, or RUN_RETENTION_SECONDS after its end.
 * A run that ended on its stream is forgotten at once. Ended runs nobody reads are bounded in
 * number and in the bytes they keep together (ENDED_RUN_OUTPUTS output caps): the oldest go first,
 * so runs left unread cannot fill the sandbox's memory.
 *
 * Nothing here is about one protocol's shape: MCP's Tasks (tasks/get, tasks/cancel) can sit on
 * the same runs later.
 */
import { randomBytes } from 'node:crypto';
import { formatExecutionEvent, RUN_RETENTION_SECONDS, SANDBOX_ERROR_NAMES, type ExecutionEvent } from '../../protocol/sandbox-api.ts';
import type { CodeContext, CodeRequest } from './code-context.ts';
import type { SandboxTelemetry } from '../telemetry/types.ts';

/** A cancel that found nothing is remembered this long, for a run whose /execute arrives after it. */
const EARLY_CANCEL_MS = 10_000;
/** At most this many early cancels are remembered (oldest forgotten first). */
const MAX_EARLY_CANCELS = 1000;
/** At most this many held runs are kept after their end (oldest forgotten first). */
const MAX_ENDED_RUNS = 200;
/** How long a read until a run's end waits beyond its own wait for a run whose error is out. */
const ENDING_WAIT_MS = 15_000;
/**
 * Ended runs keep at most this many output caps of unread events together (oldest forgotten
 * first): 8 × the 4 MiB default is 32 MiB, where 200 runs at their cap would be 800 MiB.
 */
const ENDED_RUN_OUTPUTS = 8;

/** Where an attached run's lines go: the /execute response. */
export interface RunStream {
  push(line: string): void;
  close(): void;
}

export interface RunParams extends CodeRequest {
  tag?: string;
  /** Hold the run when it is still going this long after it started on its stream. */
  holdAfterMs?: number;
  /** Delete the context once a held run's end has been read, or expired. */
  discardContext?: boolean;
  /** Looks at the workspace before and after the code: the `files_changed` event (see RunsDeps). */
  reportFiles?: boolean;
  keepaliveMs: number;
}

export interface RunsDeps {
  /** Deletes a context (a held one-off run's, once read); failures are the caller's to log. */
  deleteContext(session: string, contextId: string): Promise<void>;
  /** What `files_changed` reports: a snapshot of the session's workspace, and what differs from one. */
  workspaceChanges?(session: string): Promise<() => Promise<ExecutionEvent | undefined>>;
  /** Held runs are kept this long after their end (default RUN_RETENTION_SECONDS). */
  retentionMs?: number;
  /** The execution's output cap: ended runs keep ENDED_RUN_OUTPUTS of it, together, at most. */
  outputLimitBytes: number;
  /** Traces each execution (telemetry/types.ts), when telemetry is on. */
  telemetry?: SandboxTelemetry;
}

export type RunState = 'running' | 'done';

type Waiter = () => void;

export class Run {
  readonly id = randomBytes(9).toString('base64url');
  readonly session: string;
  readonly contextId: string;
  readonly tag: string | undefined;
  readonly discardContext: boolean;
  readonly #cancel = new AbortController();
  readonly #gone = new AbortController();
  #state: RunState = 'running';
  #stream: RunStream | undefined;
  /** Events since the run was held; #base is the position of the first one kept. */
  #buffer: ExecutionEvent[] = [];
  /** The JSON size of the events in #buffer. */
  #bufferedBytes = 0;
  #base = 0;
  /** Where the last read without a position ended. */
  #cursor = 0;
  #held = false;
  /** Its error is out: the run is ending. */
  #erred = false;
  #discarded = false;
  #endedAt: number | undefined;
  #waiters = new Set<Waiter>();
  /** Settles when the execution is over (its end_of_execution is out). */
  readonly finished: Promise<void>;

  constructor(session: string, context: CodeContext, params: RunParams, stream: RunStream, deps: RunsDeps, onEnd: (run: Run) => void) {
    this.session = session;
    this.contextId = context.id;
    this.tag = params.tag;
    this.discardContext = params.discardContext === true;
    this.#stream = stream;
    this.finished = this.#run(context, params, deps).finally(() => onEnd(this));
  }

  get state(): RunState {
    return this.#state;
  }

  get held(): boolean {
    return this.#held;
  }

  get endedAt(): number | undefined {
    return this.#endedAt;
  }

  get contextDiscarded(): boolean {
    return this.#discarded;
  }

  /** Asks the code to stop (a `CancelledError` ends it); the context and its variables stay. */
  interrupt(): void {
    this.#cancel.abort();
  }

  /** The client of an attached run went away: stop the code without a word (nobody would read it). */
  streamGone(): void {
    if (this.#held) return;
    this.#stream = undefined;
    this.#gone.abort();
  }

  /** Events from `after` (default: where the last such read ended) and the position after them; undefined when they were read past. */
  read(after?: number): { events: ExecutionEvent[]; next: number } | undefined {
    const from = after ?? this.#cursor;
    if (from < this.#base) return undefined;
    const events = this.#buffer.slice(from - this.#base);
    const next = Math.max(from, this.#base + this.#buffer.length);
    if (after === undefined || next > this.#cursor) this.#cursor = next;
    // What a read without a position has passed is not kept: the buffer holds unread events only.
    const drop = this.#cursor - this.#base;
    if (drop > 0) {
      for (const event of this.#buffer.slice(0, drop)) this.#bufferedBytes -= eventBytes(event);
      this.#buffer = this.#buffer.slice(drop);
      this.#base = this.#cursor;
    }
    return { events, next };
  }

  /** Where the next read without a position starts. */
  get cursor(): number {
    return this.#cursor;
  }

  /** What its unread events take (their JSON size). */
  get unreadBytes(): number {
    return this.#bufferedBytes;
  }

  /** True once every event of a finished run has been read. */
  get drained(): boolean {
    return this.#state === 'done' && this.#cursor >= this.#base + this.#buffer.length;
  }

  /**
   * Resolves when an event arrives after `position` (with `untilEnd`: only) when the run ends, or
   * after `ms`. A run whose error is out is ending (its files_changed and end follow, after the
   * interrupt settles): a read until its end then waits for that end too (ENDING_WAIT_MS at most),
   * so that the error comes with the final answer rather than with one that says "running".
   */
  async waitBeyond(position: number, ms: number, untilEnd = false): Promise<void> {
    await this.#waitFor(untilEnd ? () => this.#state === 'done' : () => this.#hasBeyond(position), ms);
    if (untilEnd && ms > 0 && this.#erred) await this.#waitFor(() => this.#state === 'done', ENDING_WAIT_MS);
  }

  async #waitFor(condition: () => boolean, ms: number): Promise<void> {
    if (ms <= 0 || condition()) return;
    await new Promise<void>((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        resolve();
      };
      const waiter: Waiter = () => {
        if (condition()) finish();
      };
      const timer = setTimeout(finish, ms);
      this.#waiters.add(waiter);
    });
  }

  #hasBeyond(position: number): boolean {
    return this.#state === 'done' || this.#base + this.#buffer.length > position;
  }

  /** Ends the record of a held run: its context too, when the run was a one-off. */
  async discard(deps: RunsDeps): Promise<void> {
    if (!this.discardContext || this.#discarded) return;
    this.#discarded = true;
    await deps.deleteContext(this.session, this.contextId).catch(() => {});
  }

  async #run(context: CodeContext, params: RunParams, deps: RunsDeps): Promise<void> {
    let lastWrite = Date.now();
    const send = (event: ExecutionEvent) => {
      if (event.type === 'error') this.#erred = true;
      if (this.#held) {
        if (event.type === 'keepalive') return;
        this.#buffer.push(event);
        this.#bufferedBytes += eventBytes(event);
        for (const waiter of this.#waiters) waiter();
        return;
      }
      lastWrite = Date.now();
      this.#stream?.push(formatExecutionEvent(event));
    };
    const keepalive = setInterval(
      () => {
        if (!this.#held && Date.now() - lastWrite >= params.keepaliveMs) send({ type: 'keepalive' });
      },
      Math.max(params.keepaliveMs / 4, 50),
    );
    const hold =
      params.holdAfterMs === undefined
        ? undefined
        : setTimeout(() => {
            // Not one that is ending (its error is out): its end follows, on the same stream.
            if (this.#state !== 'running' || !this.#stream || this.#erred) return;
            this.#stream.push(formatExecutionEvent({ type: 'run_held', run_id: this.id }));
            this.#stream.close();
            this.#stream = undefined;
            this.#held = true;
          }, params.holdAfterMs);
    let changes: (() => Promise<ExecutionEvent | undefined>) | undefined;
    try {
      await (deps.telemetry?.traced(context) ?? context).execute({
        code: params.code,
        timeoutMs: params.timeoutMs,
        outputLimitBytes: params.outputLimitBytes,
        envVars: params.envVars,
        signal: this.#gone.signal,
        cancel: this.#cancel.signal,
        emit: send,
        onStart:
          params.reportFiles && deps.workspaceChanges
            ? async () => {
                changes = await lookAt(deps, this.session);
              }
            : undefined,
        onEnd: async () => {
          const event = await changes?.().catch(() => undefined);
          if (event) send(event);
        },
      });
    } catch (error) {
      // The context was deleted or lost while this request waited for it.
      send({ type: 'error', name: SANDBOX_ERROR_NAMES.context, value: (error as Error).message, traceback: '' });
    } finally {
      clearInterval(keepalive);
      clearTimeout(hold);
      send({ type: 'end_of_execution' });
      this.#state = 'done';
      this.#endedAt = Date.now();
      this.#stream?.close();
      this.#stream = undefined;
      for (const waiter of this.#waiters) waiter();
    }
  }
}

function eventBytes(event: ExecutionEvent): number {
  return formatExecutionEvent(event).length;
}

/** A workspace snapshot taken before the code; failures (no worker) mean no event. */
async function lookAt(deps: RunsDeps, session: string): Promise<(() => Promise<ExecutionEvent | undefined>) | undefined> {
  try {
    return await deps.workspaceChanges!(session);
  } catch {
    return undefined;
  }
}

export class Runs {
  readonly #deps: RunsDeps;
  readonly #retentionMs: number;
  readonly #runs = new Map<string, Run>();
  /** session + tag of cancels that found no run yet → when they came */
  readonly #earlyCancels = new Map<string, number>();
  readonly #sweeper: NodeJS.Timeout;

  constructor(deps: RunsDeps) {
    this.#deps = deps;
    this.#retentionMs = deps.retentionMs ?? RUN_RETENTION_SECONDS * 1000;
    this.#sweeper = setInterval(() => this.#sweep(), Math.min(this.#retentionMs / 4, 30_000));
    this.#sweeper.unref();
  }

  /** Starts the code on `context`, streaming to `stream` until it ends or is held. */
  start(session: string, context: CodeContext, params: RunParams, stream: RunStream): Run {
    const run = new Run(session, context, params, stream, this.#deps, (ended) => this.#ended(ended));
    this.#runs.set(run.id, run);
    if (params.tag !== undefined) {
      const key = tagKey(session, params.tag);
      const cancelledAt = this.#earlyCancels.get(key);
      if (cancelledAt !== undefined && Date.now() - cancelledAt < EARLY_CANCEL_MS) run.interrupt();
      this.#earlyCancels.delete(key);
    }
    return run;
  }

  /** The session's run with this id. */
  get(session: string, id: string): Run | undefined {
    const run = this.#runs.get(id);
    return run?.session === session ? run : undefined;
  }

  /** Interrupts the session's live runs that carry `tag`; with `early`, a tag that finds none stops a run that starts with it soon after. */
  interruptTagged(session: string, tag: string, early = true): number {
    let count = 0;
    for (const run of this.#runs.values()) {
      if (run.session === session && run.tag === tag && run.state === 'running') {
        run.interrupt();
        count++;
      }
    }
    if (count === 0 && early) {
      if (this.#earlyCancels.size >= MAX_EARLY_CANCELS) this.#earlyCancels.delete(this.#earlyCancels.keys().next().value!);
      this.#earlyCancels.set(tagKey(session, tag), Date.now());
    }
    return count;
  }

  /** Reads a run's events (see Run.read); a finished one-off run read to its end takes its context with it. */
  async read(run: Run, after: number | undefined): Promise<ReturnType<Run['read']>> {
    const read = run.read(after);
    if (run.drained) await this.#forget(run);
    return read;
  }

  close(): void {
    clearInterval(this.#sweeper);
  }

  #ended(run: Run): void {
    if (!run.held) this.#runs.delete(run.id);
    else this.#trimEnded(run);
  }

  async #forget(run: Run): Promise<void> {
    await run.discard(this.#deps);
  }

  /**
   * Forgets the oldest ended runs beyond MAX_ENDED_RUNS, and while the rest keep more than their
   * budget; never the one that just ended (its JSON may outweigh the budget alone: many tiny events).
   */
  #trimEnded(justEnded: Run): void {
    const ended = [...this.#runs.values()].filter((run) => run.endedAt !== undefined);
    const budget = ENDED_RUN_OUTPUTS * this.#deps.outputLimitBytes;
    let kept = ended.reduce((sum, run) => sum + run.unreadBytes, 0);
    let count = ended.length;
    for (const run of ended) {
      if (count <= MAX_ENDED_RUNS && kept <= budget) break;
      if (run === justEnded) continue;
      this.#runs.delete(run.id);
      void this.#forget(run);
      kept -= run.unreadBytes;
      count--;
    }
  }

  #sweep(): void {
    const now = Date.now();
    for (const run of this.#runs.values()) {
      if (run.endedAt !== undefined && now - run.endedAt >= this.#retentionMs) {
        this.#runs.delete(run.id);
        void this.#forget(run);
      }
    }
    for (const [key, at] of this.#earlyCancels) if (now - at >= EARLY_CANCEL_MS) this.#earlyCancels.delete(key);
  }
}

function tagKey(session: string, tag: string): string {
  return `${session}\n${tag}`;
}

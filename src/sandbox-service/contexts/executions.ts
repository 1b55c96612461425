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
 * A run that ended on its stream is forgotten at once. Held runs, running or ended, are bounded
 * together in the bytes of unread events they keep (HELD_RUN_OUTPUTS output caps, each event
 * counted with EVENT_COST_BYTES): the oldest ended runs go first, then the running run holding
 * the most is stopped; ended runs are bounded in number too. Runs left unread cannot fill the
 * sandbox's memory.
 *
 * Nothing here is about one protocol's shape: MCP's Tasks (tasks/get, tasks/cancel) can sit on
 * the same runs later.
 */
import { randomBytes } from 'node:crypto';
import {
  formatExecutionEvent,
  RUN_RETENTION_SECONDS,
  RUNS_REFUSAL,
  SANDBOX_ERROR_NAMES,
  type ExecutionEvent,
} from '../../protocol/sandbox-api.ts';
import type { CodeContext, CodeRequest } from './code-context.ts';
import type { SandboxTelemetry } from '../telemetry/types.ts';
import { EVENT_COST_BYTES } from './execution-output.ts';

/** A cancel that found nothing is remembered this long, for a run whose /execute arrives after it. */
const EARLY_CANCEL_MS = 10_000;
/** At most this many early cancels are remembered (oldest forgotten first). */
const MAX_EARLY_CANCELS = 1000;
/** At most this many held runs are kept after their end (oldest forgotten first). */
const MAX_ENDED_RUNS = 200;
/** How long a read until a run's end waits beyond its own wait for a run whose error is out. */
const ENDING_WAIT_MS = 15_000;
/**
 * Held runs, running or ended, keep at most this many output caps of unread events together: 8 ×
 * the 4 MiB default is 32 MiB, where 200 ended runs at their cap would be 800 MiB, and running
 * ones were not counted at all (a tenant could make the service hold any amount).
 */
const HELD_RUN_OUTPUTS = 8;

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
  /** The execution's output cap: held runs keep HELD_RUN_OUTPUTS of it, together, at most. */
  outputLimitBytes: number;
  /** Traces each execution (telemetry/types.ts), when telemetry is on. */
  telemetry?: SandboxTelemetry;
  /** What runs may wait or be kept, so no tenant makes the service hold unbounded output; a start past them is refused (Runs.refusal). */
  limits: RunLimits;
}

export interface RunLimits {
  /** Runs waiting for one context behind the one it runs (SANDBOX_MAX_QUEUED_RUNS). */
  maxQueuedRuns: number;
  /** Runs of one session going, waiting, or held and not read to their end (SANDBOX_MAX_SESSION_RUNS). */
  maxSessionRuns: number;
  /** Bytes of code of runs waiting for their turn, in all sessions; one session at most half (SANDBOX_QUEUED_CODE_MB). */
  queuedCodeBytes: number;
}

/** Told of every change in the bytes of unread events a held run keeps. */
type BufferedBytes = (run: Run, delta: number) => void;

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
  readonly #overLimit = new AbortController();
  #onBuffered: BufferedBytes;
  /** Called once, when the run no longer waits for its context (its turn came, or it ended before). */
  #onTurn: (() => void) | undefined;
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

  constructor(
    session: string,
    context: CodeContext,
    params: RunParams,
    stream: RunStream,
    deps: RunsDeps,
    onEnd: (run: Run) => void,
    onBuffered: BufferedBytes,
    onTurn: () => void,
  ) {
    this.#onBuffered = onBuffered;
    this.#onTurn = onTurn;
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

  #turn(): void {
    const onTurn = this.#onTurn;
    this.#onTurn = undefined;
    onTurn?.();
  }

  /** Stops the code for the unread output it holds (`what`: "more … than …"); what it holds stays readable. */
  stopOverLimit(what: string): void {
    this.#overLimit.abort(what);
  }

  get stoppedOverLimit(): boolean {
    return this.#overLimit.signal.aborted;
  }

  /** The run is no longer kept: its bytes are nobody's count any more. */
  detach(): void {
    this.#onBuffered = () => {};
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
      let dropped = 0;
      for (const event of this.#buffer.slice(0, drop)) dropped += eventBytes(event);
      this.#bufferedBytes -= dropped;
      this.#onBuffered(this, -dropped);
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
        const bytes = eventBytes(event);
        this.#buffer.push(event);
        this.#bufferedBytes += bytes;
        this.#onBuffered(this, bytes);
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
        outputLimitEvents: params.outputLimitEvents,
        envVars: params.envVars,
        signal: this.#gone.signal,
        cancel: this.#cancel.signal,
        overLimit: this.#overLimit.signal,
        emit: send,
        onStart: async () => {
          this.#turn();
          if (params.reportFiles && deps.workspaceChanges) changes = await lookAt(deps, this.session);
        },
        onEnd: async () => {
          const event = await changes?.().catch(() => undefined);
          if (event) send(event);
        },
      });
    } catch (error) {
      // The context was deleted or lost while this request waited for it.
      send({ type: 'error', name: SANDBOX_ERROR_NAMES.context, value: (error as Error).message, traceback: '' });
    } finally {
      this.#turn();
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

/** What a kept event costs: its JSON and its record (an empty one is not free). */
function eventBytes(event: ExecutionEvent): number {
  return formatExecutionEvent(event).length + EVENT_COST_BYTES;
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
  /** Bytes of unread events the held runs keep, together. */
  #heldBytes = 0;
  /** Bytes of code of runs waiting for their turn: in all, and per session. */
  #waitingCode = 0;
  readonly #waitingCodeOf = new Map<string, number>();

  constructor(deps: RunsDeps) {
    this.#deps = deps;
    this.#retentionMs = deps.retentionMs ?? RUN_RETENTION_SECONDS * 1000;
    this.#sweeper = setInterval(() => this.#sweep(), Math.min(this.#retentionMs / 4, 30_000));
    this.#sweeper.unref();
  }

  /**
   * Why a run of `code` on `context` may not start now (RUNS_REFUSAL, the limit named), or
   * undefined. Runs queued behind a long one each keep their code here (without a bound, 40 of 4 MB
   * took the service from 139 to 442 MB, and with a 512 MB heap killed it).
   */
  refusal(session: string, context: CodeContext, code: string): string | undefined {
    const { maxQueuedRuns, maxSessionRuns, queuedCodeBytes } = this.#deps.limits;
    const after = 'collect a run (wait_run) or cancel one (cancel_run), then start again';
    if (context.busy && context.waiting >= maxQueuedRuns) {
      return `${RUNS_REFUSAL}: this context has ${context.waiting} runs waiting behind the one it runs, at most ${maxQueuedRuns} (SANDBOX_MAX_QUEUED_RUNS); ${after}`;
    }
    let live = 0;
    for (const run of this.#runs.values()) if (run.session === session && !run.drained) live++;
    if (live >= maxSessionRuns) {
      return `${RUNS_REFUSAL}: this session has ${live} runs going, waiting or unread, at most ${maxSessionRuns} (SANDBOX_MAX_SESSION_RUNS); ${after}`;
    }
    if (!context.busy) return undefined;
    const bytes = Buffer.byteLength(code);
    const mine = this.#waitingCodeOf.get(session) ?? 0;
    const share = Math.floor(queuedCodeBytes / 2);
    if (mine + bytes > share || this.#waitingCode + bytes > queuedCodeBytes) {
      const held =
        mine + bytes > share
          ? `this session's waiting runs would hold ${mib(mine + bytes)} of code, at most ${mib(share)}`
          : `waiting runs would hold ${mib(this.#waitingCode + bytes)} of code in this sandbox, at most ${mib(queuedCodeBytes)}`;
      return `${RUNS_REFUSAL}: ${held} (SANDBOX_QUEUED_CODE_MB; a session takes at most half); ${after}`;
    }
    return undefined;
  }

  /** Starts the code on `context`, streaming to `stream` until it ends or is held (ask refusal() first). */
  start(session: string, context: CodeContext, params: RunParams, stream: RunStream): Run {
    const bytes = Buffer.byteLength(params.code);
    this.#waitingCode += bytes;
    this.#waitingCodeOf.set(session, (this.#waitingCodeOf.get(session) ?? 0) + bytes);
    const turn = () => {
      this.#waitingCode -= bytes;
      const left = (this.#waitingCodeOf.get(session) ?? bytes) - bytes;
      if (left > 0) this.#waitingCodeOf.set(session, left);
      else this.#waitingCodeOf.delete(session);
    };
    const run = new Run(
      session,
      context,
      params,
      stream,
      this.#deps,
      (ended) => this.#ended(ended),
      (growing, delta) => this.#buffered(growing, delta),
      turn,
    );
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
    else this.#trim(run);
  }

  #buffered(run: Run, delta: number): void {
    this.#heldBytes += delta;
    if (delta > 0 && this.#heldBytes > this.#budget) this.#trim(run, true);
  }

  get #budget(): number {
    return HELD_RUN_OUTPUTS * this.#deps.outputLimitBytes;
  }

  /** Forgets a kept run (and what it keeps). */
  #drop(run: Run): void {
    this.#runs.delete(run.id);
    this.#heldBytes -= run.unreadBytes;
    run.detach();
    void this.#forget(run);
  }

  async #forget(run: Run): Promise<void> {
    await run.discard(this.#deps);
  }

  /**
   * Forgets the oldest ended runs beyond MAX_ENDED_RUNS, and while the held runs keep more than
   * their budget; never `keep` (a run that just ended: its JSON may outweigh the budget alone).
   * Still over as a run's output grows, the running run that holds the most is stopped, unless
   * one so stopped is still winding down (what it holds stays readable until it is read or its
   * end makes it an ended run like the others).
   */
  #trim(keep: Run, growing = false): void {
    const ended = [...this.#runs.values()].filter((run) => run.endedAt !== undefined);
    let count = ended.length;
    for (const run of ended) {
      if (count <= MAX_ENDED_RUNS && this.#heldBytes <= this.#budget) break;
      if (run === keep) continue;
      this.#drop(run);
      count--;
    }
    if (!growing || this.#heldBytes <= this.#budget) return;
    const running = [...this.#runs.values()].filter((run) => run.held && run.state === 'running');
    if (running.some((run) => run.stoppedOverLimit)) return;
    let largest: Run | undefined;
    for (const run of running) if (run.unreadBytes > (largest?.unreadBytes ?? 0)) largest = run;
    largest?.stopOverLimit(
      `more unread output than this sandbox keeps for held runs (${this.#budget} bytes among them all, ` +
        `${HELD_RUN_OUTPUTS} × SANDBOX_OUTPUT_LIMIT_BYTES): collect a run's output as it comes`,
    );
  }

  #sweep(): void {
    const now = Date.now();
    for (const run of this.#runs.values()) {
      if (run.endedAt !== undefined && now - run.endedAt >= this.#retentionMs) this.#drop(run);
    }
    for (const [key, at] of this.#earlyCancels) if (now - at >= EARLY_CANCEL_MS) this.#earlyCancels.delete(key);
  }
}

function mib(bytes: number): string {
  return `${Math.round((bytes / 1024 / 1024) * 10) / 10} MiB`;
}

function tagKey(session: string, tag: string): string {
  return `${session}\n${tag}`;
}

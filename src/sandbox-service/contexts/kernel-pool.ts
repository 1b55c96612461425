/**
 * Pre-started kernels, so that creating a context does not wait for Python to boot.
 *
 * A kernel is bound to its workspace when it starts (bubblewrap mounts are fixed
 * then), so spares belong to a session's space, or to a fresh space of their own
 * (FRESH_SPACE) that the next new session takes over with the kernel. At most `size`
 * spares exist in total. A take that finds a spare is replaced by one of the same kind,
 * into the slot it freed. A take that finds none starts one spare of its kind: into a free
 * slot, and for a new session also in place of the oldest spare of another kind. It used to
 * fill its kind up to `size`, stopping every other spare: new sessions alternating between
 * Python and JavaScript then never found one (each take stopped the spares the next needed),
 * and a session's second JavaScript context stopped the fresh Python spares any new session
 * could take, for Deno spares only that session could.
 */
import type { Language } from '../../protocol/sandbox-api.ts';
import type { RunningKernel } from '../kernels/running-kernel.ts';

/** The space key of spares that come with a fresh space of their own. */
export const FRESH_SPACE = '\0fresh';

/** JavaScript and TypeScript run in the same (Deno) kernel: a spare serves either. */
function poolKey(space: string, language: Language): string {
  const family = language === 'javascript' || language === 'typescript' ? 'deno' : language;
  return `${family}\0${space}`;
}

export interface PoolHooks<T extends { kernel: RunningKernel }> {
  /** Starts a kernel in the space (FRESH_SPACE: in a new space of its own). */
  start(space: string, language: Language): Promise<T>;
  /** Stops a spare nobody took (and, for FRESH_SPACE, its space). */
  discard(spare: T, space: string): Promise<void>;
  /** Told whether a take found a spare (telemetry). */
  taken?(hit: boolean): void;
}

/**
 * How long a taken spare's replacement waits before it boots. Booting Python takes a
 * core for most of a second; started at once it would compete with the first code
 * the new context runs. A creation that finds no spare refills at once instead.
 */
const REFILL_DELAY_MS = 1_000;

interface Spare<T> {
  key: string;
  space: string;
  item: Promise<T>;
  /** Set once the kernel is up. */
  ready?: T;
}

export class KernelPool<T extends { kernel: RunningKernel }> {
  readonly #size: number;
  readonly #hooks: PoolHooks<T>;
  /** Oldest first. */
  #spares: Spare<T>[] = [];
  #closed = false;
  /** Spares being stopped, awaited by close(). */
  readonly #stopping = new Set<Promise<void>>();
  /** Delayed refills by pool key. */
  readonly #refills = new Map<string, NodeJS.Timeout>();

  readonly #refillDelayMs: number;

  constructor(size: number, hooks: PoolHooks<T>, { refillDelayMs = REFILL_DELAY_MS }: { refillDelayMs?: number } = {}) {
    this.#size = size;
    this.#hooks = hooks;
    this.#refillDelayMs = refillDelayMs;
  }

  /** A ready kernel for the space: a spare when there is a live one, else a fresh start. Refills behind itself. */
  async take(space: string, language: Language): Promise<T> {
    const key = poolKey(space, language);
    const index = this.#spares.findIndex((spare) => spare.key === key);
    let taken: T | undefined;
    if (index >= 0) {
      const [spare] = this.#spares.splice(index, 1);
      taken = await spare!.item.then(
        (item) => (item.kernel.alive ? item : undefined),
        () => undefined,
      );
      if (!taken) this.#discard(spare!);
    }
    this.#hooks.taken?.(taken !== undefined);
    if (taken) this.#fillLater(key, space, language);
    else this.#makeRoomFor(key, space, language);
    return taken ?? this.#hooks.start(space, language);
  }

  /** A spare that is up now, taken without waiting (undefined when none is); refills behind itself as take() does. */
  takeReady(space: string, language: Language): T | undefined {
    const key = poolKey(space, language);
    const index = this.#spares.findIndex((spare) => spare.key === key && spare.ready?.kernel.alive === true);
    if (index < 0) return undefined;
    const [spare] = this.#spares.splice(index, 1);
    this.#hooks.taken?.(true);
    this.#fillLater(key, space, language);
    return spare!.ready;
  }

  /** Spares started or starting, not yet taken. */
  get spareCount(): number {
    return this.#spares.length;
  }

  /** Stops the space's spares (its session has ended). */
  async drop(space: string): Promise<void> {
    const dropped = this.#spares.filter((spare) => spare.space === space);
    this.#spares = this.#spares.filter((spare) => spare.space !== space);
    for (const [key, timer] of this.#refills) {
      if (key.endsWith(`\0${space}`)) {
        clearTimeout(timer);
        this.#refills.delete(key);
      }
    }
    await Promise.all(dropped.map((spare) => this.#discard(spare)));
  }

  /** Starts spares of the kind into the pool's free slots (at the sandbox's start: all of them). */
  fill(space: string, language: Language): void {
    if (this.#closed || this.#size === 0) return;
    const key = poolKey(space, language);
    clearTimeout(this.#refills.get(key));
    this.#refills.delete(key);
    while (this.#spares.length < this.#size) this.#startSpare(key, space, language);
  }

  /** After a take that found no spare of its kind: one, in a free slot or, for a new session, in place of another kind's oldest. */
  #makeRoomFor(key: string, space: string, language: Language): void {
    if (this.#closed || this.#size === 0) return;
    if (this.#spares.length >= this.#size) {
      // A named session's spare serves that session only: it never displaces one any new session could take.
      if (space !== FRESH_SPACE) return;
      const oldest = this.#spares.findIndex((spare) => spare.key !== key);
      if (oldest < 0) return;
      this.#discard(this.#spares.splice(oldest, 1)[0]!);
    }
    this.#startSpare(key, space, language);
  }

  #startSpare(key: string, space: string, language: Language): void {
    const item = this.#hooks.start(space, language);
    const spare: Spare<T> = { key, space, item };
    item.then(
      (ready) => {
        spare.ready = ready;
      },
      () => {}, // a failed spare is dropped when taken
    );
    this.#spares.push(spare);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#refills.values()) clearTimeout(timer);
    this.#refills.clear();
    const spares = this.#spares;
    this.#spares = [];
    for (const spare of spares) this.#discard(spare);
    await Promise.all(this.#stopping);
  }

  #fillLater(key: string, space: string, language: Language): void {
    if (this.#closed || this.#size === 0 || this.#refills.has(key)) return;
    const timer = setTimeout(() => {
      this.#refills.delete(key);
      this.fill(space, language);
    }, this.#refillDelayMs);
    timer.unref();
    this.#refills.set(key, timer);
  }

  #discard(spare: Spare<T>): Promise<void> {
    const stopping = spare.item.then(
      (item) => this.#hooks.discard(item, spare.space),
      () => {},
    );
    this.#stopping.add(stopping);
    void stopping.then(() => this.#stopping.delete(stopping));
    return stopping;
  }
}

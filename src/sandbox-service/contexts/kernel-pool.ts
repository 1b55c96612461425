/**
 * Pre-started kernels, so that creating a context does not wait for Python to boot.
 *
 * A kernel is bound to its workspace when it starts (bubblewrap mounts are fixed
 * then), so spares belong to a session's space, or to a fresh space of their own
 * (FRESH_SPACE) that the next new session takes over with the kernel. After a take,
 * spares of the same kind are topped up again. At most `size` spares exist in total;
 * making room for the kind now in use stops the spares of others, oldest first.
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

  constructor(size: number, hooks: PoolHooks<T>) {
    this.#size = size;
    this.#hooks = hooks;
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
    if (taken) this.#fillLater(key, space, language);
    else this.fill(space, language);
    return taken ?? this.#hooks.start(space, language);
  }

  /** A spare that is up now, taken without waiting (undefined when none is); refills behind itself as take() does. */
  takeReady(space: string, language: Language): T | undefined {
    const key = poolKey(space, language);
    const index = this.#spares.findIndex((spare) => spare.key === key && spare.ready?.kernel.alive === true);
    if (index < 0) return undefined;
    const [spare] = this.#spares.splice(index, 1);
    this.#fillLater(key, space, language);
    return spare!.ready;
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

  /**
   * Tops the session's spares up to the pool size (so a burst of creations finds them
   * ready), stopping the oldest spares of other sessions to make room.
   */
  fill(space: string, language: Language): void {
    if (this.#closed || this.#size === 0) return;
    const key = poolKey(space, language);
    clearTimeout(this.#refills.get(key));
    this.#refills.delete(key);
    while (this.#spares.filter((spare) => spare.key === key).length < this.#size) {
      if (this.#spares.length >= this.#size) {
        const oldest = this.#spares.findIndex((spare) => spare.key !== key);
        if (oldest < 0) break;
        this.#discard(this.#spares.splice(oldest, 1)[0]!);
      }
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
    }, REFILL_DELAY_MS);
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

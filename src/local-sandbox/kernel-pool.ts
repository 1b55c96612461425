/**
 * Pre-started kernels, so that creating a context does not wait for Python to boot.
 *
 * A kernel is bound to its session's workspace when it starts (bubblewrap mounts
 * are fixed then), so spares belong to a session: after a session takes one, its
 * spares are topped up again. At most `size` spares exist in total; making room for
 * the session now active stops the spares of others, oldest first.
 */
import type { Language } from '../sandbox/protocol.ts';
import type { RunningKernel } from './running-kernel.ts';

/** JavaScript and TypeScript run in the same (Deno) kernel: a spare serves either. */
function poolKey(session: string, language: Language): string {
  const family = language === 'python' ? 'python' : 'deno';
  return `${family}\0${session}`;
}

/**
 * How long a taken spare's replacement waits before it boots. Booting Python takes a
 * core for most of a second; started at once it would compete with the first code
 * the new context runs. A creation that finds no spare refills at once instead.
 */
const REFILL_DELAY_MS = 1_000;

interface Spare {
  key: string;
  kernel: Promise<RunningKernel>;
}

export class KernelPool {
  readonly #size: number;
  readonly #start: (session: string, language: Language) => Promise<RunningKernel>;
  /** Oldest first. */
  #spares: Spare[] = [];
  #closed = false;
  /** Spares being stopped, awaited by close(). */
  readonly #stopping = new Set<Promise<void>>();
  /** Delayed refills by pool key. */
  readonly #refills = new Map<string, NodeJS.Timeout>();

  constructor(size: number, start: (session: string, language: Language) => Promise<RunningKernel>) {
    this.#size = size;
    this.#start = start;
  }

  /** A ready kernel for the session: a spare when there is a live one, else a fresh start. Refills behind itself. */
  async take(session: string, language: Language): Promise<RunningKernel> {
    const key = poolKey(session, language);
    const index = this.#spares.findIndex((spare) => spare.key === key);
    let kernel: RunningKernel | undefined;
    if (index >= 0) {
      const [spare] = this.#spares.splice(index, 1);
      kernel = await spare!.kernel.then(
        (k) => (k.alive ? k : undefined),
        () => undefined,
      );
    }
    if (kernel) this.#fillLater(key, session, language);
    else this.fill(session, language);
    return kernel ?? this.#start(session, language);
  }

  /**
   * Tops the session's spares up to the pool size (so a burst of creations finds them
   * ready), stopping the oldest spares of other sessions to make room.
   */
  fill(session: string, language: Language): void {
    if (this.#closed || this.#size === 0) return;
    const key = poolKey(session, language);
    clearTimeout(this.#refills.get(key));
    this.#refills.delete(key);
    while (this.#spares.filter((spare) => spare.key === key).length < this.#size) {
      if (this.#spares.length >= this.#size) {
        const oldest = this.#spares.findIndex((spare) => spare.key !== key);
        if (oldest < 0) break;
        this.#discard(this.#spares.splice(oldest, 1)[0]!);
      }
      const kernel = this.#start(session, language);
      kernel.catch(() => {}); // a failed spare is dropped when taken
      this.#spares.push({ key, kernel });
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

  #fillLater(key: string, session: string, language: Language): void {
    if (this.#closed || this.#size === 0 || this.#refills.has(key)) return;
    const timer = setTimeout(() => {
      this.#refills.delete(key);
      this.fill(session, language);
    }, REFILL_DELAY_MS);
    timer.unref();
    this.#refills.set(key, timer);
  }

  #discard(spare: Spare): void {
    const stopping = spare.kernel.then(
      (k) => k.stop(),
      () => {},
    );
    this.#stopping.add(stopping);
    void stopping.then(() => this.#stopping.delete(stopping));
  }
}

/** Timing loops: warm up, then time each call on its own (sequentially, never overlapped). */
import { performance } from 'node:perf_hooks';

export interface SampleOptions {
  /** Calls made and thrown away first (JIT, connection pools, kernel caches). */
  warmup: number;
  /** Calls timed. */
  count: number;
  /** Awaited between timed calls, outside the timing (e.g. to let a pool refill). */
  between?: () => Promise<void>;
  /** Stops the loop between calls (e.g. on Ctrl-C), so the caller's clean-up runs. */
  signal?: AbortSignal;
  /** A call taking longer fails the bench instead of hanging it; default 60 s. */
  timeoutMs?: number;
}

/** Milliseconds each timed call took, in call order. */
export async function sample(call: () => Promise<unknown>, options: SampleOptions): Promise<number[]> {
  const fn = () => withTimeout(call(), options.timeoutMs ?? 60_000);
  for (let i = 0; i < options.warmup; i++) {
    options.signal?.throwIfAborted();
    await fn();
    if (options.between) await options.between();
  }
  const durations: number[] = [];
  for (let i = 0; i < options.count; i++) {
    options.signal?.throwIfAborted();
    const start = performance.now();
    await fn();
    durations.push(performance.now() - start);
    if (options.between && i < options.count - 1) await options.between();
  }
  return durations;
}

/** Milliseconds one call took, with its result. */
export async function time<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await fn();
  return { ms: performance.now() - start, value };
}

/** Rejects when `promise` has not settled within `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`a timed call did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface RoundsOptions {
  /** Untimed calls per path before the first round. */
  warmup: number;
  /** Timed calls per path, split evenly across rounds. */
  count: number;
  /** How many times the paths take turns. */
  rounds: number;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/**
 * Times several paths taking turns, a batch of each per round, so that a burst of
 * load from elsewhere on a shared machine lands on all of them alike rather than
 * on whichever happened to run then. Returns each path's durations in ms.
 */
export async function sampleInTurns<K extends string>(
  paths: Record<K, () => Promise<unknown>>,
  options: RoundsOptions,
): Promise<Record<K, number[]>> {
  const names = Object.keys(paths) as K[];
  const results = Object.fromEntries(names.map((name) => [name, [] as number[]])) as Record<K, number[]>;
  for (const name of names)
    await sample(paths[name], { warmup: options.warmup, count: 0, signal: options.signal, timeoutMs: options.timeoutMs });
  const perRound = Math.ceil(options.count / options.rounds);
  for (let round = 0; round < options.rounds; round++) {
    for (const name of names) {
      const left = options.count - results[name].length;
      if (left <= 0) continue;
      results[name].push(
        ...(await sample(paths[name], {
          warmup: 0,
          count: Math.min(perRound, left),
          signal: options.signal,
          timeoutMs: options.timeoutMs,
        })),
      );
    }
  }
  return results;
}

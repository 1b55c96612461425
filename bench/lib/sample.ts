/** Timing loops: warm up, then time each call on its own (sequentially, never overlapped). */
import { performance } from 'node:perf_hooks';

export interface SampleOptions {
  /** Calls made and thrown away first (JIT, connection pools, kernel caches). */
  warmup: number;
  /** Calls timed. */
  count: number;
  /** Awaited between timed calls, outside the timing (e.g. to let a pool refill). */
  between?: () => Promise<void>;
}

/** Milliseconds each timed call took, in call order. */
export async function sample(fn: () => Promise<unknown>, options: SampleOptions): Promise<number[]> {
  for (let i = 0; i < options.warmup; i++) {
    await fn();
    if (options.between) await options.between();
  }
  const durations: number[] = [];
  for (let i = 0; i < options.count; i++) {
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

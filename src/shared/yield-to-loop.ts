/**
 * A large request's long synchronous steps, each in a task of its own. Decoding, parsing and
 * encoding a body of megabytes take 4–9 ms each on the one event loop every tenant shares, and
 * they ran back to back in one task (an awaited promise that is already settled goes on in the
 * same task): a 4 MB run_code held the MCP process's loop for about 30 ms at a time, and another
 * tenant's trivial call waited behind it (bench/README.md, 2026-12-07 14:20). Between two such
 * steps a large request now lets what is waiting run first; a small one goes on at once.
 */
import { setImmediate } from 'node:timers/promises';

/**
 * From this size (UTF-16 units of a JSON text) a step is worth a task of its own: the same 256 KiB
 * as the MCP side's large-body lane (`LARGE_BODY_BYTES`, which counts bytes, in large-bodies.ts).
 */
export const LARGE_TEXT_CHARS = 256 * 1024;

/**
 * Lets the event loop run what is waiting when `length` is large; at once otherwise. Twice: from
 * an I/O callback, one immediate runs in this turn's check phase, before the loop polls for new
 * I/O again (another request's bytes); the second runs in the next turn's, after that poll.
 */
export async function yieldIfLarge(length: number): Promise<void> {
  if (length < LARGE_TEXT_CHARS) return;
  await setImmediate();
  await setImmediate();
}

/**
 * Waiting in tests for what follows an event we cannot observe directly (a log line
 * on another pipe, a process ending, a spare kernel coming up).
 */

/** Polls until `check` is true or `ms` pass; returns the last result (no timing asserted). */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

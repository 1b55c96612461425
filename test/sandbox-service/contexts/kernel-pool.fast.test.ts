/**
 * The pool's choices, with stand-in kernels (no process): which spares it starts and stops when
 * new sessions ask for one language after another.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Language } from '../../../src/protocol/sandbox-api.ts';
import { FRESH_SPACE, KernelPool } from '../../../src/sandbox-service/contexts/kernel-pool.ts';
import type { RunningKernel } from '../../../src/sandbox-service/kernels/running-kernel.ts';

interface Item {
  kernel: RunningKernel;
  language: Language;
  space: string;
}

/** A pool whose kernels start at once and are counted: what was started, stopped, and taken warm. */
function countingPool(size: number) {
  const counts = { started: 0, stopped: 0, hits: 0, misses: 0 };
  const pool = new KernelPool<Item>(
    size,
    {
      start: async (space, language) => {
        counts.started++;
        return { kernel: { alive: true } as RunningKernel, language, space };
      },
      discard: async () => {
        counts.stopped++;
      },
      taken: (hit) => (hit ? counts.hits++ : counts.misses++),
    },
    { refillDelayMs: 0 },
  );
  return { pool, counts };
}

/** Lets started kernels come up and a delayed refill (0 ms here) run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 5));

test('new sessions alternating between Python and JavaScript find a warm kernel once the pool has one of each', async () => {
  const { pool, counts } = countingPool(2);
  pool.fill(FRESH_SPACE, 'python');
  await settle();
  const languages: Language[] = ['python', 'javascript', 'python', 'javascript', 'python', 'javascript', 'python', 'javascript'];
  for (const language of languages) {
    const taken = await pool.take(FRESH_SPACE, language);
    assert.equal(taken.language, language);
    await settle();
  }
  // The first JavaScript creation finds none; from then on each kind has its spare.
  assert.deepEqual({ hits: counts.hits, misses: counts.misses }, { hits: 7, misses: 1 });
  // Spares stopped unused: one Python spare made room for JavaScript's, nothing more.
  assert.equal(counts.stopped, 1, `${counts.stopped} spares stopped unused`);
  await pool.close();
});

test("a session's second context does not stop a fresh spare that any new session could take", async () => {
  const { pool, counts } = countingPool(2);
  pool.fill(FRESH_SPACE, 'python');
  await settle();
  await pool.take(FRESH_SPACE, 'python'); // the session's first context, in the space it takes over
  await settle();
  await pool.take('session-space', 'javascript');
  await settle();
  assert.equal(counts.stopped, 0, 'no fresh spare stopped');
  assert.equal((await pool.take(FRESH_SPACE, 'python')).space, FRESH_SPACE);
  assert.equal(counts.hits, 2);
  await pool.close();
});

test('a burst of one kind still finds spares: a take refills what it took', async () => {
  const { pool, counts } = countingPool(2);
  pool.fill(FRESH_SPACE, 'python');
  await settle();
  for (let i = 0; i < 6; i++) {
    await pool.take(FRESH_SPACE, 'python');
    await settle();
  }
  assert.deepEqual({ hits: counts.hits, misses: counts.misses, stopped: counts.stopped }, { hits: 6, misses: 0, stopped: 0 });
  await pool.close();
});

/**
 * One tenant's write_file downloads take their bytes at its pace (MCP_FETCH_TENANT_BYTES_PER_SECOND),
 * all of them together, a second's worth at once; another tenant's are not held up by them.
 * Waits are checked from below only (a loaded machine makes them longer, never shorter).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDownloadBudget } from '../../../src/mcp-server/net/download-budget.ts';

const RATE = 1_000_000; // bytes per second

async function elapsed(work: Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work;
  return performance.now() - started;
}

test("a second's worth goes at once; past it a tenant's downloads wait for their bytes, together", async () => {
  const budget = createDownloadBudget(64 * 1024 * 1024, 0, RATE);
  assert.ok((await elapsed(budget.pace('alice', RATE))) < 900, "a second's worth at once");
  // Two downloads of alice's at once: 150 kB each, 300 kB together, 300 ms at her pace.
  const both = await elapsed(Promise.all([budget.pace('alice', 150_000), budget.pace('alice', 150_000)]));
  assert.ok(both >= 250, `alice's next 300 kB came after ${both.toFixed(0)} ms, at 1 MB/s`);
});

test("another tenant's downloads are not held up by one tenant's", async () => {
  const budget = createDownloadBudget(64 * 1024 * 1024, 0, RATE);
  await budget.pace('alice', RATE);
  const order: string[] = [];
  await Promise.all([
    budget.pace('alice', 500_000).then(() => order.push('alice')),
    budget.pace('bob', 500_000).then(() => order.push('bob')),
  ]);
  assert.deepEqual(order, ['bob', 'alice'], 'bob, owing nothing, went first');
});

test('no pace (0): every download at once', async () => {
  const budget = createDownloadBudget(64 * 1024 * 1024, 0, 0);
  const order: string[] = [];
  const paced = budget.pace('alice', 50 * RATE).then(() => order.push('paced'));
  await Promise.resolve().then(() => order.push('next tick'));
  await paced;
  assert.deepEqual(order, ['paced', 'next tick'], 'resolved at once');
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sample, sampleInTurns } from '../../bench/lib/sample.ts';
import { percentile, summarize } from '../../bench/lib/stats.ts';
import { formatComparisonTable, speedup } from '../../bench/lib/table.ts';

describe('bench statistics', () => {
  it('interpolates percentiles between ranks, whatever the order of the samples', () => {
    assert.equal(percentile([4, 1, 3, 2, 5], 0.5), 3);
    assert.equal(percentile([1, 2, 3, 4], 0.5), 2.5);
    assert.equal(percentile([10, 20], 0.9), 19);
    assert.equal(percentile([7], 0.9), 7);
  });

  it('refuses to summarise nothing and quantiles outside 0..1', () => {
    assert.throws(() => percentile([], 0.5), RangeError);
    assert.throws(() => percentile([1], 1.5), RangeError);
    assert.throws(() => summarize([]), RangeError);
  });

  it('summarises count, p50, p90, min, max and mean', () => {
    const samples = Array.from({ length: 11 }, (_, i) => i);
    assert.deepEqual(summarize(samples), { count: 11, p50: 5, p90: 9, min: 0, max: 10, mean: 5 });
  });
});

describe('bench comparison table', () => {
  const ours = summarize([2, 2, 4]);
  const baseline = summarize([20, 20, 40]);

  it('gives the ratio as baseline p50 over ours', () => {
    assert.equal(speedup({ ours, baseline }), 10);
    assert.equal(speedup({ ours }), undefined);
  });

  it('prints a Markdown table with both sides, the ratio, the target and whether it was met', () => {
    const table = formatComparisonTable(
      [
        { metric: 'execute', ours, baseline, target: '≥ 5×', met: true },
        { metric: 'create', ours, target: 'p50 ≤ 1 ms', met: false },
      ],
      { ours: 'ours', baseline: 'Jupyter' },
    );
    const lines = table.split('\n');
    assert.equal(lines.length, 4);
    assert.match(lines[0]!, /^\| metric +\| ours p50 \/ p90 ms +\| Jupyter p50 \/ p90 ms +\| ratio/);
    assert.match(lines[1]!, /^\| -+ \| -+ \|/);
    assert.match(lines[2]!, /\| execute +\| 2\.0 \/ 3\.6 \(n=3\) +\| 20\.0 \/ 36\.0 \(n=3\) +\| 10\.0× +\| ≥ 5× +\| met +\|/);
    assert.match(lines[3]!, /\| create +\| 2\.0 \/ 3\.6 \(n=3\) +\| n\/a +\| — +\| p50 ≤ 1 ms +\| \*\*missed\*\* +\|/);
  });
});

describe('bench sampling in turns', () => {
  it('times every path the requested number of times, taking turns round by round', async () => {
    const order: string[] = [];
    const results = await sampleInTurns(
      { a: async () => order.push('a'), b: async () => order.push('b') },
      { warmup: 1, count: 4, rounds: 2 },
    );
    assert.equal(results.a.length, 4);
    assert.equal(results.b.length, 4);
    assert.deepEqual(order, ['a', 'b', 'a', 'a', 'b', 'b', 'a', 'a', 'b', 'b']);
    for (const ms of [...results.a, ...results.b]) assert.ok(ms >= 0);
  });

  it('fails a call that hangs instead of waiting for ever', async () => {
    await assert.rejects(
      sample(() => new Promise(() => {}), { warmup: 0, count: 1, timeoutMs: 20 }),
      /did not finish within 20 ms/,
    );
  });
});

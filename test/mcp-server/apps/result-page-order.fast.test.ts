// result_page's orders (src/mcp-server/apps/result-page.ts), as pure functions: the fast page of a
// number column gives exactly the rows the full stable sort gives, at every offset, with ties,
// empty cells, negative numbers and zeros of both signs, both ways; and result handles verify.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { numericPage, sortedOrder } from '../../../src/mcp-server/apps/result-page.ts';

function column(rows: number, seed: number): (number | null)[] {
  let state = seed;
  const next = () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
  return Array.from({ length: rows }, () => {
    const r = next();
    if (r < 0.1) return null;
    if (r < 0.15) return r < 0.125 ? 0 : -0;
    return Math.round((next() - 0.4) * 40) / 4; // few distinct values: many ties
  });
}

test('a page of a number column is the full stable sort sliced, at every offset, both ways', () => {
  for (const seed of [1, 7, 42]) {
    const cells = column(997, seed);
    for (const descending of [false, true]) {
      const full = sortedOrder(cells, descending);
      for (let offset = 0; offset < cells.length + 20; offset += 37) {
        for (const limit of [1, 13, 50]) {
          assert.deepEqual(
            numericPage(cells, descending, offset, limit),
            full.slice(offset, offset + limit),
            `seed ${seed}, ${descending ? 'descending' : 'ascending'}, offset ${offset}, limit ${limit}`,
          );
        }
      }
    }
  }
});

test('a column that holds anything but numbers and empty cells takes the general sort', () => {
  assert.equal(numericPage([1, 'a', null], false, 0, 10), undefined);
  assert.deepEqual(sortedOrder([2, 'b', null, 1, true, 'a'], false), [3, 0, 4, 5, 1, 2]);
  assert.deepEqual(sortedOrder([2, 'b', null, 1, true, 'a'], true), [1, 5, 4, 0, 3, 2], 'empty cells last either way');
});

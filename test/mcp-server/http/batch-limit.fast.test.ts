/**
 * batch-limit.ts's early refusal (fair sharing): a batch of more than MAX_BATCH_MESSAGES
 * is told from its text, read only as far as the message past the limit, so that a long batch
 * is refused without JSON.parse building it; anything else is left to JSON.parse.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { batchOverLimit, MAX_BATCH_MESSAGES, oversizedBatchText } from '../../../src/mcp-server/http/batch-limit.ts';

const cancel = (i: number) => ({
  jsonrpc: '2.0',
  method: 'notifications/cancelled',
  params: { requestId: i, reason: 'a, "quoted" [reason]}' },
});
const batch = (n: number) => JSON.stringify(Array.from({ length: n }, (_, i) => cancel(i)));

describe('batchOverLimit', () => {
  test(`a batch of ${MAX_BATCH_MESSAGES} is left to JSON.parse, one of ${MAX_BATCH_MESSAGES + 1} is over`, () => {
    assert.equal(batchOverLimit(batch(MAX_BATCH_MESSAGES)), false);
    assert.equal(batchOverLimit(batch(MAX_BATCH_MESSAGES + 1)), true);
    assert.equal(batchOverLimit(batch(20_000)), true);
    assert.equal(batchOverLimit(` \r\n\t${batch(MAX_BATCH_MESSAGES + 1)}`), true);
  });

  test('commas inside strings, escaped quotes, nested arrays and objects are not messages', () => {
    const nested = JSON.stringify([
      { a: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18], b: { c: ',,,,,,,,,,,,,,,,,,,,' } },
    ]);
    assert.equal(batchOverLimit(nested), false);
    const strings = JSON.stringify(Array.from({ length: MAX_BATCH_MESSAGES }, () => '\\",[{,}],\\'));
    assert.equal(batchOverLimit(strings), false);
    assert.equal(batchOverLimit(JSON.stringify([[...Array(40).keys()], [...Array(40).keys()]])), false);
  });

  test('what is not an array is not a batch: an object, a string, nothing, an empty array', () => {
    for (const text of [JSON.stringify(cancel(1)), '"[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18]"', '', '   ', '[]', '[ ]']) {
      assert.equal(batchOverLimit(text), false, text);
    }
  });

  test(`a batch is over once its ${MAX_BATCH_MESSAGES + 1}th message begins: what follows is never read, valid or not`, () => {
    const head = batch(MAX_BATCH_MESSAGES + 1).slice(0, -1);
    assert.equal(batchOverLimit(`${head},${'x'.repeat(8 * 1024 * 1024)}`), true);
    assert.equal(batchOverLimit(`${head}`), true);
    const refusal = oversizedBatchText(`${head}, not JSON`);
    assert.equal(refusal?.status, 400);
  });

  test('the 400 names the limit', async () => {
    const refusal = oversizedBatchText(batch(20_000));
    assert.ok(refusal);
    const body = (await refusal.json()) as { error: { code: number; message: string } };
    assert.equal(body.error.code, -32600);
    assert.match(
      body.error.message,
      new RegExp(`batch of more than ${MAX_BATCH_MESSAGES} messages.*at most ${MAX_BATCH_MESSAGES} in one batch`),
    );
  });
});

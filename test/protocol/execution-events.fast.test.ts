/** The /execute stream's line parser: known events typed, unknown types skipped (the protocol may grow), malformed lines refused. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatExecutionEvent, parseExecutionEvent } from '../../src/protocol/sandbox-api.ts';

test('a known event parses, and round-trips through formatExecutionEvent', () => {
  const event = parseExecutionEvent('{"type":"stdout","text":"hi\\n","timestamp":1}');
  assert.deepEqual(event, { type: 'stdout', text: 'hi\n', timestamp: 1 });
  assert.deepEqual(parseExecutionEvent(formatExecutionEvent(event!)), event);
});

test('an event type this side does not know is skipped, not an error', () => {
  assert.equal(parseExecutionEvent('{"type":"progress","percent":50}'), undefined);
});

test('a known type with a wrong shape, or a line that is not an event, throws', () => {
  assert.throws(() => parseExecutionEvent('{"type":"stdout"}'), /text/);
  assert.throws(() => parseExecutionEvent('{"type":"error","name":"E"}'));
  assert.throws(() => parseExecutionEvent('42'));
  assert.throws(() => parseExecutionEvent('not json'), SyntaxError);
});

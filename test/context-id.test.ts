import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createContextIdCodec } from '../src/contexts/context-id.ts';

const codec = createContextIdCodec('a-test-secret-of-enough-length');

test('an id carries its session and sandbox context and decodes back', () => {
  const id = codec.encode({ session: 'dsession-1', context: '0f9e-context:with/odd.chars' });
  assert.match(id, /^ctx_[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  assert.deepEqual(codec.decode(id), { session: 'dsession-1', context: '0f9e-context:with/odd.chars' });
});

test('the same session and context give the same id on every instance (same secret)', () => {
  const other = createContextIdCodec('a-test-secret-of-enough-length');
  assert.equal(other.encode({ session: 's', context: 'c' }), codec.encode({ session: 's', context: 'c' }));
  assert.notEqual(codec.encode({ session: 's', context: 'c1' }), codec.encode({ session: 's', context: 'c2' }));
});

test('an id signed with another secret is refused', () => {
  const foreign = createContextIdCodec('another-secret-of-enough-length');
  assert.equal(codec.decode(foreign.encode({ session: 's', context: 'c' })), undefined);
});

test('tampered, truncated and invented ids are refused', () => {
  const id = codec.encode({ session: 'session-a', context: 'context-a' });
  const [payload, tag] = id.slice(4).split('.') as [string, string];
  const swapped = Buffer.from(JSON.stringify(['session-b', 'context-a'])).toString('base64url');
  assert.equal(codec.decode(`ctx_${swapped}.${tag}`), undefined, 'payload swapped under the old tag');
  const flipped = tag.slice(0, -1) + (tag.endsWith('A') ? 'B' : 'A');
  assert.equal(codec.decode(`ctx_${payload}.${flipped}`), undefined, 'tag altered');
  assert.equal(codec.decode(id.slice(0, -3)), undefined, 'truncated');
  for (const invented of ['', 'ctx_', 'ctx_.', 'context-a', `ctx_${payload}`, `${payload}.${tag}`, 'x'.repeat(5000)]) {
    assert.equal(codec.decode(invented), undefined, JSON.stringify(invented.slice(0, 20)));
  }
});

test('a short secret is refused at construction', () => {
  assert.throws(() => createContextIdCodec('short'), /at least 16/);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createContextIdCodec } from '../src/contexts/context-id.ts';

const codec = createContextIdCodec('a-test-secret-of-enough-length');

test('an id carries its session and sandbox context and decodes back', () => {
  const id = codec.encode({ session: 'dsession-1', context: '0f9e-context:with/odd.chars' }, 'token:alice');
  assert.match(id, /^ctx_[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  assert.deepEqual(codec.decode(id, 'token:alice'), { session: 'dsession-1', context: '0f9e-context:with/odd.chars' });
});

test('the same session and context give the same id on every instance (same secret)', () => {
  const other = createContextIdCodec('a-test-secret-of-enough-length');
  assert.equal(other.encode({ session: 's', context: 'c' }, 'token:alice'), codec.encode({ session: 's', context: 'c' }, 'token:alice'));
  assert.notEqual(
    codec.encode({ session: 's', context: 'c1' }, 'token:alice'),
    codec.encode({ session: 's', context: 'c2' }, 'token:alice'),
  );
});

test('an id signed with another secret is refused', () => {
  const foreign = createContextIdCodec('another-secret-of-enough-length');
  assert.equal(codec.decode(foreign.encode({ session: 's', context: 'c' }, 'token:alice'), 'token:alice'), undefined);
});

test('tampered, truncated and invented ids are refused', () => {
  const id = codec.encode({ session: 'session-a', context: 'context-a' }, 'token:alice');
  const [payload, tag] = id.slice(4).split('.') as [string, string];
  const swapped = Buffer.from(JSON.stringify(['session-b', 'context-a'])).toString('base64url');
  assert.equal(codec.decode(`ctx_${swapped}.${tag}`, 'token:alice'), undefined, 'payload swapped under the old tag');
  // The first character: all six of its bits are the tag's (the last one's low bits are padding).
  const flipped = (tag.startsWith('A') ? 'B' : 'A') + tag.slice(1);
  assert.equal(codec.decode(`ctx_${payload}.${flipped}`, 'token:alice'), undefined, 'tag altered');
  assert.equal(codec.decode(id.slice(0, -3), 'token:alice'), undefined, 'truncated');
  for (const invented of ['', 'ctx_', 'ctx_.', 'context-a', `ctx_${payload}`, `${payload}.${tag}`, 'x'.repeat(5000)]) {
    assert.equal(codec.decode(invented, 'token:alice'), undefined, JSON.stringify(invented.slice(0, 20)));
  }
});

test('an id minted for one tenant is unknown to every other (and shows no tenant)', () => {
  const id = codec.encode({ session: 's', context: 'c' }, 'token:alice');
  assert.deepEqual(codec.decode(id, 'token:alice'), { session: 's', context: 'c' });
  for (const other of ['token:bob', 'oauth:https://issuer#alice', 'anonymous:anonymous', '', 'token:alic', 'token:alicee']) {
    assert.equal(codec.decode(id, other), undefined, other);
  }
  assert.doesNotMatch(Buffer.from(id.slice(4).split('.')[0]!, 'base64url').toString(), /alice/);
});

test('a short secret is refused at construction', () => {
  assert.throws(() => createContextIdCodec('short'), /at least 16/);
});

import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { tenantKey, tenantTag, type Tenant } from '../../../src/mcp-server/auth/tenant.ts';
import { createContextIdCodec } from '../../../src/mcp-server/context-ids/context-id.ts';

const codec = createContextIdCodec('a-test-secret-of-enough-length');
const ALICE: Tenant = { id: 'alice', source: 'token' };
const alice = tenantKey(ALICE);

/** The session names the two session modes generate (src/mcp-server/sessions/direct.ts, fc.ts), for a tenant. */
const directSession = (tenant: Tenant, sessionId = 'default') =>
  `${sessionId}-${tenantTag(tenant)}-${randomBytes(9).toString('base64url').replaceAll('_', '.')}`;
const fcSession = (tenant: Tenant) => `${tenantTag(tenant)}-${randomBytes(12).toString('hex')}`;

test('ids of the sessions we name are at most 64 characters, in both modes and for the shared session', () => {
  for (let i = 0; i < 200; i++) {
    for (const address of [
      { session: directSession(ALICE), sandboxContextId: randomUUID() },
      { session: fcSession(ALICE), sandboxContextId: randomUUID() },
      { session: 'default', sandboxContextId: randomUUID() },
    ]) {
      const id = codec.encode(address, alice);
      assert.ok(id.length <= 64, `${id.length} characters: ${id}`);
      assert.match(id, /^ctx_[A-Za-z0-9_-]+$/);
      assert.deepEqual(codec.decode(id, alice), address);
    }
  }
  // What the issue measured: 129 characters before.
  assert.equal(codec.encode({ session: fcSession(ALICE), sandboxContextId: randomUUID() }, alice).length, 63);
  assert.equal(codec.encode({ session: directSession(ALICE), sandboxContextId: randomUUID() }, alice).length, 59);
});

test('a configured session id (SANDBOX_SESSION_ID) is known to the codec, not written into ids', () => {
  const staging = createContextIdCodec('a-test-secret-of-enough-length', { sessionId: 'staging-eu' });
  const address = { session: directSession(ALICE, 'staging-eu'), sandboxContextId: randomUUID() };
  const id = staging.encode(address, alice);
  assert.ok(id.length <= 64, id);
  assert.deepEqual(staging.decode(id, alice), address);
  assert.equal(codec.decode(id, alice), undefined, "another deployment's id is unknown here, not misrouted");
});

test('any session and context still round-trip (other sandboxes name their own)', () => {
  for (const address of [
    { session: 'dsession-1', sandboxContextId: '0f9e-context:with/odd.chars' },
    { session: 'ünïcode session', sandboxContextId: 'ÄBC-0F9E-UPPER' },
    { session: `${tenantTag(ALICE)}-`, sandboxContextId: 'abcd' },
    { session: 'default-other-tenant-xyz', sandboxContextId: 'a'.repeat(255) },
  ]) {
    assert.deepEqual(codec.decode(codec.encode(address, alice), alice), address, JSON.stringify(address));
  }
  assert.throws(() => codec.encode({ session: 's', sandboxContextId: 'é'.repeat(128) }, alice), /longer than a context id can carry/);
});

test('the same session and context give the same id on every instance (same secret)', () => {
  const other = createContextIdCodec('a-test-secret-of-enough-length');
  assert.equal(other.encode({ session: 's', sandboxContextId: 'c' }, alice), codec.encode({ session: 's', sandboxContextId: 'c' }, alice));
  assert.notEqual(
    codec.encode({ session: 's', sandboxContextId: 'c1' }, alice),
    codec.encode({ session: 's', sandboxContextId: 'c2' }, alice),
  );
});

test('an id signed with another secret is refused', () => {
  const foreign = createContextIdCodec('another-secret-of-enough-length');
  assert.equal(codec.decode(foreign.encode({ session: 's', sandboxContextId: 'c' }, alice), alice), undefined);
});

test('tampered, truncated, re-spelled and invented ids are refused', () => {
  const id = codec.encode({ session: fcSession(ALICE), sandboxContextId: randomUUID() }, alice);
  const bytes = Buffer.from(id.slice(4), 'base64url');
  for (let i = 0; i < bytes.length; i++) {
    const altered = Buffer.from(bytes);
    altered[i]! ^= 0x01;
    assert.equal(codec.decode(`ctx_${altered.toString('base64url')}`, alice), undefined, `byte ${i} altered`);
  }
  assert.equal(codec.decode(id.slice(0, -3), alice), undefined, 'truncated');
  assert.equal(codec.decode(`${id}A`, alice), undefined, 'lengthened');
  assert.equal(codec.decode(`${id.slice(0, 10)}!${id.slice(10)}`, alice), undefined, 'a character Node would skip');
  assert.equal(codec.decode(` ${id}`, alice), undefined);
  for (const invented of ['', 'ctx_', 'ctx_AAAA', 'context-a', id.slice(4), 'x'.repeat(5000), `ctx_${'A'.repeat(60)}`]) {
    assert.equal(codec.decode(invented, alice), undefined, JSON.stringify(invented.slice(0, 20)));
  }
});

test('an id minted for one tenant is unknown to every other (and shows no tenant)', () => {
  const id = codec.encode({ session: fcSession(ALICE), sandboxContextId: 'c' }, alice);
  assert.ok(codec.decode(id, alice));
  for (const other of ['token:bob', 'oauth:https://issuer#alice', 'anonymous:anonymous', '', 'token:alic', 'token:alicee']) {
    assert.equal(codec.decode(id, other), undefined, other);
  }
  const shown = Buffer.from(id.slice(4), 'base64url');
  assert.ok(!shown.includes('alice'), 'no tenant name');
  assert.ok(!shown.toString('hex').includes(tenantTag(ALICE)), "not even the tenant's tag: both sides know it");
});

test('a short secret is refused at construction', () => {
  assert.throws(() => createContextIdCodec('short'), /at least 16/);
});

/**
 * FC session mode against a stand-in for the FC OpenAPI: the real
 * `@alicloud/fc20230330` SDK signs and sends every request; the stand-in verifies
 * the ACS3-HMAC-SHA256 signature with the secret it handed out and keeps sessions.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createFcSessions, credentialsFor, credentialsFromHeaders, fcSessionsFactory } from '../../../src/mcp-server/sessions/fc.ts';
import { Refusal } from '../../../src/mcp-server/refusal.ts';
import { type AlibabaCredentials, type FcSessionsSettings, TenantCapReached } from '../../../src/mcp-server/sessions/types.ts';
import { startFcOpenApiStandIn, type FcOpenApiStandIn } from '../../support/fc-openapi-stand-in.ts';

const SANDBOX_FUNCTION = 'ci-sandbox';
/** A tenant's tag, as tenantTag() makes them. */
const TAG = 'a1b2c3d4e5f6';
const ROLE_CREDENTIALS: AlibabaCredentials = {
  accessKeyId: 'STS.stand-in-key-id',
  accessKeySecret: 'stand-in-secret-handed-out',
  securityToken: 'stand-in-security-token',
};

describe('FC sessions against a stand-in for the FC OpenAPI (real SDK, signed requests)', () => {
  let api: FcOpenApiStandIn;
  let options: FcSessionsSettings;

  before(async () => {
    api = await startFcOpenApiStandIn({ credentials: ROLE_CREDENTIALS, functions: [SANDBOX_FUNCTION], maxPageSize: 2 });
    options = {
      functionName: SANDBOX_FUNCTION,
      qualifier: 'LATEST',
      region: 'cn-hangzhou',
      accountId: '1234567890',
      endpoint: api.endpoint,
      protocol: 'http',
      credentials: ROLE_CREDENTIALS,
      sessionTTLInSeconds: 3600,
      sessionIdleTimeoutInSeconds: 900,
    };
  });
  after(() => api.close());

  test('open creates a session with the configured TTL and idle timeout', async () => {
    const sessions = createFcSessions(options);
    assert.equal(sessions.mode, 'fc');
    const sessionId = (await sessions.open(TAG)).id;
    const request = api.accepted.at(-1)!;
    assert.equal(request.action, 'CreateSession');
    assert.equal(request.method, 'POST');
    assert.equal(request.path, `/2023-03-30/functions/${SANDBOX_FUNCTION}/sessions`);
    assert.equal(request.query.qualifier, 'LATEST');
    assert.match(sessionId, new RegExp(`^${TAG}-[0-9a-f]{24}$`), "the session is named with the tenant's tag first");
    assert.deepEqual(request.body, { sessionId, sessionTTLInSeconds: 3600, sessionIdleTimeoutInSeconds: 900 });
    assert.equal(request.accessKeyId, ROLE_CREDENTIALS.accessKeyId);
    const kept = api.sessions.get(sessionId);
    assert.ok(kept, 'the stand-in keeps the session the SDK created');
    assert.equal(kept.sessionTTLInSeconds, 3600);
    assert.equal(kept.sessionIdleTimeoutInSeconds, 900);
    await sessions.close(sessionId);
  });

  test('list follows nextToken across pages and answers active sessions only', async () => {
    const sessions = createFcSessions(options);
    const opened = [];
    for (let i = 0; i < 5; i++) opened.push((await sessions.open(TAG)).id);
    const expired = opened[2]!;
    api.sessions.get(expired)!.sessionStatus = 'Expired';
    const before = api.accepted.length;

    const listed = await sessions.list(TAG);

    assert.deepEqual([...listed].sort(), opened.filter((id) => id !== expired).sort());
    const calls = api.accepted.slice(before);
    assert.equal(calls.length, 2, 'four active sessions in pages of two: two ListSessions calls');
    assert.ok(calls.every((c) => c.action === 'ListSessions' && c.method === 'GET' && c.query.sessionStatus === 'Active'));
    assert.equal(calls[0]!.query.nextToken, undefined);
    assert.ok(calls[1]!.query.nextToken, 'the second page is asked for with the token of the first');
    const others = (await sessions.open('0f0f0f0f0f0f')).id;
    assert.deepEqual([...(await sessions.list(TAG))].sort(), listed.sort(), "another tenant's session is not listed");
    assert.deepEqual(await sessions.list('0f0f0f0f0f0f'), [others]);
    await sessions.close(others);
    for (const id of opened) await sessions.close(id);
  });

  test('close deletes the session, and closing it again is not an error', async () => {
    const sessions = createFcSessions(options);
    const sessionId = (await sessions.open(TAG)).id;
    await sessions.close(sessionId);
    const request = api.accepted.at(-1)!;
    assert.equal(request.action, 'DeleteSession');
    assert.equal(request.method, 'DELETE');
    assert.equal(request.path, `/2023-03-30/functions/${SANDBOX_FUNCTION}/sessions/${sessionId}`);
    assert.equal(api.sessions.has(sessionId), false);
    await sessions.close(sessionId);
    assert.equal(api.refused.at(-1)?.code, 'SessionNotFound', 'the second delete reached FC and was answered 404');
  });

  test('parallel opens under a cap keep exactly cap sessions: each ranks itself by createdTime and the rest delete theirs', async () => {
    const tag = 'c0ffee000001';
    const sessions = createFcSessions(options);
    const opens = await Promise.allSettled(Array.from({ length: 8 }, () => sessions.open(tag, 3)));
    const kept = opens.filter((open) => open.status === 'fulfilled').map((open) => open.value.id);
    const refused = opens.filter((open) => open.status === 'rejected').map((open) => open.reason as Error);
    assert.equal(kept.length, 3, refused.map(String).join('\n'));
    assert.ok(
      refused.every((error) => error instanceof TenantCapReached && error.cap === 3 && error.held >= 3),
      refused.map(String).join('\n'),
    );
    assert.deepEqual([...(await sessions.list(tag))].sort(), [...kept].sort(), 'the refused sessions were deleted again');
    await assert.rejects(sessions.open(tag, 3), TenantCapReached, 'at the cap, a later open is refused too');
    await sessions.close(kept[0]!);
    const freed = await sessions.open(tag, 3);
    assert.equal((await sessions.list(tag)).length, 3);
    for (const id of [...kept.slice(1), freed.id]) await sessions.close(id);
  });

  test('a wrong secret is refused by the signature check and surfaces as a clear error', async () => {
    const sessions = createFcSessions({ ...options, credentials: { ...ROLE_CREDENTIALS, accessKeySecret: 'not-the-secret' } });
    const count = api.sessions.size;
    await assert.rejects(sessions.open(TAG), (error: unknown) => {
      assert.ok(error instanceof Refusal);
      assert.equal(error.kind, 'session_api');
      assert.deepEqual(error.details, { operation: 'CreateSession', status: 403, code: 'SignatureDoesNotMatch' });
      assert.match(error.message, /^FC Session API CreateSession on function "ci-sandbox" failed: HTTP 403 SignatureDoesNotMatch/);
      assert.match(error.message, /role and its policy/);
      return true;
    });
    assert.equal(api.sessions.size, count, 'no session was created');
    assert.equal(api.refused.at(-1)?.code, 'SignatureDoesNotMatch');
  });

  test('a missing security token is refused', async () => {
    const { securityToken: _, ...withoutToken } = ROLE_CREDENTIALS;
    const sessions = createFcSessions({ ...options, credentials: withoutToken });
    await assert.rejects(sessions.list(TAG), /HTTP 403 InvalidSecurityToken\.Mismatch/);
  });

  test('an unknown sandbox function is a clear 404, also on close', async () => {
    const sessions = createFcSessions({ ...options, functionName: 'no-such-function' });
    await assert.rejects(
      sessions.open(TAG),
      /CreateSession on function "no-such-function" failed: HTTP 404 FunctionNotFound.*SANDBOX_FUNCTION_NAME/,
    );
    await assert.rejects(sessions.close('abc'), /DeleteSession on function "no-such-function" failed: HTTP 404 FunctionNotFound/);
  });

  test('an unreachable endpoint names the endpoint', async () => {
    const sessions = createFcSessions({ ...options, endpoint: '127.0.0.1:1' });
    await assert.rejects(sessions.list(TAG), /ListSessions on function "ci-sandbox" failed: cannot reach 127\.0\.0\.1:1/);
  });

  test('the per-request factory prefers the credentials FC sends in x-fc-* headers', async () => {
    const { credentials: _, ...settings } = options;
    const factory = fcSessionsFactory({ ...settings, credentials: { accessKeyId: 'env-key', accessKeySecret: 'stale' } });
    const request = new Request('http://fc.invalid/mcp', {
      headers: {
        'x-fc-access-key-id': ROLE_CREDENTIALS.accessKeyId,
        'x-fc-access-key-secret': ROLE_CREDENTIALS.accessKeySecret,
        'x-fc-security-token': ROLE_CREDENTIALS.securityToken!,
      },
    });
    const sessions = await factory(request);
    const sessionId = (await sessions.open(TAG)).id;
    assert.ok(api.sessions.has(sessionId));
    await sessions.close(sessionId);

    const fallback = await factory(new Request('http://fc.invalid/mcp'));
    await assert.rejects(fallback.open(TAG), /InvalidAccessKeyId/, 'without headers the configured (here: wrong) credentials are used');

    const none = fcSessionsFactory(settings);
    assert.throws(() => none(new Request('http://fc.invalid/mcp')), /no credentials: give the MCP function a role/);
  });

  test('credentialsFromHeaders needs both key id and secret', () => {
    assert.equal(credentialsFromHeaders(new Headers({ 'x-fc-access-key-id': 'a' })), undefined);
    assert.deepEqual(credentialsFromHeaders(new Headers({ 'x-fc-access-key-id': 'a', 'x-fc-access-key-secret': 'b' })), {
      accessKeyId: 'a',
      accessKeySecret: 'b',
    });
  });

  test("credentialsFor: the request's x-fc-* credentials, else the configured ones (what both the sessions and the trigger signature use)", () => {
    const configured: AlibabaCredentials = { accessKeyId: 'env-key', accessKeySecret: 'env-secret' };
    const fromRole = new Request('http://fc.invalid/mcp', { headers: { 'x-fc-access-key-id': 'a', 'x-fc-access-key-secret': 'b' } });
    assert.deepEqual(credentialsFor(fromRole, configured), { accessKeyId: 'a', accessKeySecret: 'b' });
    assert.deepEqual(credentialsFor(new Request('http://fc.invalid/mcp'), configured), configured);
    assert.equal(credentialsFor(new Request('http://fc.invalid/mcp'), undefined), undefined);
  });
});

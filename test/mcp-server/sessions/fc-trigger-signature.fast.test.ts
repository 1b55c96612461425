/**
 * Signed calls to the sandbox function's HTTP trigger (authType: function): our
 * signer against Alibaba's own implementation, and through a stand-in for FC's
 * trigger gateway that verifies the ACS3-HMAC-SHA256 signature and proxies.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { OpenApiUtil } from '@alicloud/openapi-core';
import { fcTriggerAuthorization, signForFcTrigger } from '../../../src/mcp-server/sessions/fc-trigger-signature.ts';
import { startFcTriggerStandIn, type FcTriggerStandIn } from '../../support/fc-trigger-stand-in.ts';

const ROLE = { accessKeyId: 'STS.trigger-key', accessKeySecret: 'trigger-secret', securityToken: 'trigger-token' };

test('the signature equals the one Alibaba SDK computes for the documented HTTP-trigger scheme', () => {
  const url = new URL('https://sandbox-abc.cn-hangzhou.fcapp.run/contexts/ctx-1?b=x%20y&a=1*');
  const date = '2026-11-23T20:00:00Z';
  const ours = fcTriggerAuthorization({ method: 'DELETE', url, date, securityToken: ROLE.securityToken }, ROLE);
  const sdk = OpenApiUtil.getAuthorization(
    {
      method: 'DELETE',
      pathname: url.pathname,
      headers: { 'x-acs-date': date, 'x-acs-security-token': ROLE.securityToken },
      query: Object.fromEntries(url.searchParams),
    } as unknown as Parameters<typeof OpenApiUtil.getAuthorization>[0],
    'ACS3-HMAC-SHA256',
    '',
    ROLE.accessKeyId,
    ROLE.accessKeySecret,
  );
  assert.equal(ours, sdk);
});

describe("requests to a stand-in for FC's signature-checking trigger gateway", () => {
  let upstream: Server;
  let gateway: FcTriggerStandIn;
  const seen: { method?: string; url?: string; session?: string; body: string }[] = [];

  before(async () => {
    upstream = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, session: req.headers['x-ci-session-id'] as string, body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    gateway = await startFcTriggerStandIn({ credentials: ROLE, upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` });
  });
  after(async () => {
    await gateway.close();
    upstream.closeAllConnections();
    await new Promise((r) => upstream.close(r));
  });

  async function send(request: Request) {
    const response = await fetch(request);
    return { status: response.status, body: await response.text() };
  }

  test('a signed request passes, with its body and session header intact', async () => {
    const request = new Request(`${gateway.url}/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-ci-session-id': 's-1' },
      body: '{"code":"1+1"}',
    });
    signForFcTrigger(ROLE)(request);
    const answer = await send(request);
    assert.equal(answer.status, 200, answer.body);
    assert.deepEqual(seen.at(-1), { method: 'POST', url: '/execute', session: 's-1', body: '{"code":"1+1"}' });
  });

  test('an unsigned request, a wrong secret and a signature moved to another path are refused', async () => {
    const before = seen.length;
    assert.equal((await send(new Request(`${gateway.url}/contexts`))).status, 401);

    const wrong = new Request(`${gateway.url}/contexts`);
    signForFcTrigger({ ...ROLE, accessKeySecret: 'not-it' })(wrong);
    assert.equal((await send(wrong)).status, 403);

    const original = new Request(`${gateway.url}/contexts/a`, { method: 'DELETE' });
    signForFcTrigger(ROLE)(original);
    const moved = new Request(`${gateway.url}/contexts/b`, { method: 'DELETE', headers: original.headers });
    const answer = await send(moved);
    assert.equal(answer.status, 403);
    assert.match(answer.body, /SignatureDoesNotMatch/);
    assert.equal(seen.length, before, 'nothing refused reached the function');
    assert.deepEqual(
      gateway.refused.map((r) => r.code),
      ['InvalidAuthorization', 'SignatureDoesNotMatch', 'SignatureDoesNotMatch'],
    );
  });

  test('without STS the token header is sent empty, as FC documents', () => {
    const request = new Request(`${gateway.url}/contexts`);
    signForFcTrigger({ accessKeyId: 'k', accessKeySecret: 's' }, () => new Date('2026-01-02T03:04:05.678Z'))(request);
    assert.equal(request.headers.get('x-acs-security-token'), '');
    assert.equal(request.headers.get('x-acs-date'), '2026-01-02T03:04:05Z');
    assert.match(
      request.headers.get('authorization')!,
      /^ACS3-HMAC-SHA256 Credential=k,SignedHeaders=x-acs-date;x-acs-security-token,Signature=[0-9a-f]{64}$/,
    );
  });
});

/**
 * `POST /invoke` on `npm start`'s loopback server without a token: an event takes any
 * content type (fc3 sends octet-stream), so a web page could POST one as text/plain
 * without a CORS preflight. The loopback Host/Origin check that guards /mcp must guard
 * /invoke too. Real process (handlers/local.ts under tsx) with its own sandbox service.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, test } from 'node:test';
import { startMcp, type McpProcess } from '../../support/mcp-harness.ts';

let mcp: McpProcess;
const invokeUrl = () => `${mcp.origin}/invoke`;
const post = (headers: Record<string, string>) =>
  fetch(invokeUrl(), { method: 'POST', headers: { 'content-type': 'text/plain', ...headers }, body: '{"tool":"list_contexts"}' });

before(async () => {
  mcp = await startMcp({ SANDBOX_PORT: '0', SANDBOX_POOL_SIZE: '0' });
});
after(() => mcp?.stop());

test('a cross-site POST /invoke (text/plain, foreign Origin) is refused with 403; a local one is served', async () => {
  const foreign = await post({ origin: 'https://evil.example' });
  assert.equal(foreign.status, 403);
  assert.match(((await foreign.json()) as { error: { message: string } }).error.message, /Origin "https:\/\/evil.example" is not local/);

  // fetch will not send another Host than the URL's: node:http does.
  const rebound = await new Promise<number>((resolve, reject) => {
    const req = httpRequest(
      invokeUrl(),
      { method: 'POST', headers: { host: 'evil.example:3000', 'content-type': 'text/plain' } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.once('error', reject);
    req.end('{"tool":"list_contexts"}');
  });
  assert.equal(rebound, 403, 'a non-local Host (DNS rebinding) is refused');

  const local = await post({});
  assert.equal(local.status, 200);
  assert.deepEqual(((await local.json()) as { structuredContent: unknown }).structuredContent, { contexts: [] });
});

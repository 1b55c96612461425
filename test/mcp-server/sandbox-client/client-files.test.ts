/**
 * The MCP side's file calls against sandboxes that are not ours: one without the file API
 * (every file route 404s, as E2B's code-interpreter server does) and one whose 404 names
 * the file. The real client runs against small HTTP stand-ins of those answers.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { failureOf } from '../../../src/mcp-server/tools/tool-failure.ts';
import { Refusal } from '../../../src/mcp-server/refusal.ts';
import { createSandboxClient } from '../../../src/mcp-server/sandbox-client/client.ts';
import { createDirectSessions } from '../../../src/mcp-server/sessions/direct.ts';

let server: Server;
let url: string;
const seen: { path: string; session: string | undefined }[] = [];

before(async () => {
  server = createServer((request, response) => {
    seen.push({ path: request.url ?? '', session: request.headers['x-ci-session-id'] as string | undefined });
    if (request.url?.startsWith('/named/')) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('no such file or directory: /home/user/missing.txt');
      return;
    }
    response.writeHead(404, { 'content-type': 'text/plain' }).end('404 Not Found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise((resolve) => server.close(resolve)));

describe('file calls against other sandboxes (HTTP stand-ins)', () => {
  test('a sandbox without a file API: a clear "no file API" error, the session header sent', async () => {
    const client = createSandboxClient({ baseUrl: url, sessionHeader: 'x-ci-session-id', retries: 0 });
    for (const call of [
      () => client.readFile('s1', 'a.txt'),
      () => client.statFile('s1', 'a.txt'),
      () => client.listFiles('s1', '/home/user', 1),
      () => client.writeFile('s1', { path: 'a.txt', content: 'x' }),
      () => client.downloadFile('s1', 'a.txt'),
    ]) {
      await assert.rejects(call(), (error: unknown) => {
        assert.ok(error instanceof Refusal);
        assert.equal(error.kind, 'sandbox_no_file_api');
        assert.match(error.message, /this sandbox has no file API/);
        return true;
      });
    }
    assert.ok(seen.length >= 5 && seen.every((request) => request.session === 's1'), JSON.stringify(seen));
    const failure = failureOf(new Refusal('sandbox_no_file_api', 'read file: this sandbox has no file API', { status: 404 }));
    assert.equal((failure.structuredContent as { error: { kind: string } }).error.kind, 'sandbox_no_file_api');
  });

  test('a sandbox that cannot list sessions: listSessions answers undefined, so direct mode keeps one session', async () => {
    const client = createSandboxClient({ baseUrl: url, sessionHeader: 'x-ci-session-id', retries: 0 });
    assert.equal(await client.listSessions(), undefined);
    const sessions = createDirectSessions('default', client);
    assert.deepEqual(await sessions.open('a1b2c3d4e5f6'), { id: 'default', capKept: true });
    assert.deepEqual(await sessions.list('a1b2c3d4e5f6'), ['default']);
  });

  test("a 404 that names the file is the file's: file_not_found", async () => {
    const client = createSandboxClient({ baseUrl: `${url}/named`, sessionHeader: 'x-ci-session-id', retries: 0 });
    await assert.rejects(client.readFile('s1', 'missing.txt'), (error: unknown) => {
      assert.ok(error instanceof Refusal);
      assert.equal(error.kind, 'sandbox_file_not_found');
      assert.match(error.message, /no such file or directory: missing\.txt/);
      return true;
    });
  });
});

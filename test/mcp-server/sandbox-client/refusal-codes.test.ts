/**
 * The sandbox client tells the sandbox's refusals apart by their code (REFUSAL_CODE_HEADER),
 * never by their words: against an HTTP stand-in, a refusal whose message reads like another
 * kind is taken for what its code says, and a message that begins like a quota refusal is no
 * quota refusal without the code.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Refusal } from '../../../src/mcp-server/refusal.ts';
import { createSandboxClient } from '../../../src/mcp-server/sandbox-client/client.ts';
import { QUOTA_REFUSAL, REFUSAL_CODE_HEADER, type RefusalCode, UNKNOWN_SESSION_REFUSAL } from '../../../src/protocol/sandbox-api.ts';

let server: Server;
let url: string;
/** What the stand-in answers next: status, code (none: no header) and message. */
let next: { status: number; code?: RefusalCode; message: string };

before(async () => {
  server = createServer((request, response) => {
    request.resume();
    const headers: Record<string, string> = { 'content-type': 'text/plain' };
    if (next.code) headers[REFUSAL_CODE_HEADER] = next.code;
    response.writeHead(next.status, headers).end(next.message);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise((resolve) => server.close(resolve)));

const client = () => createSandboxClient({ baseUrl: url, sessionHeader: 'x-ci-session-id', retries: 0 });

async function kindOf(call: () => Promise<unknown>): Promise<string> {
  try {
    await call();
  } catch (error) {
    assert.ok(error instanceof Refusal, `a Refusal, not ${error}`);
    return error.kind;
  }
  assert.fail('the call succeeded');
}

describe('refusals told apart by their code', () => {
  test('429: quota_reached and too_many_runs by the code, whatever the words', async () => {
    const create = () => client().createContext('s1', { language: 'python' });
    next = { status: 429, code: 'quota_reached', message: 'too many runs: worded like the other kind' };
    assert.equal(await kindOf(create), 'too_many_contexts');
    next = { status: 429, code: 'too_many_runs', message: `${QUOTA_REFUSAL}: worded like the other kind` };
    assert.equal(await kindOf(create), 'too_many_runs');
    next = { status: 429, message: `${QUOTA_REFUSAL}: 3 live contexts, at most 3 per tenant` };
    assert.equal(await kindOf(create), 'sandbox_http', 'without the code the words decide nothing');
  });

  test('a file 404: unknown_session and file_not_found by the code, whatever the words', async () => {
    const read = () => client().readFile('s1', 'a.txt');
    next = { status: 404, code: 'unknown_session', message: 'no such file or directory: worded like a file' };
    assert.equal(await kindOf(read), 'sandbox_not_found');
    next = { status: 404, code: 'file_not_found', message: `${UNKNOWN_SESSION_REFUSAL}: worded like a session` };
    assert.equal(await kindOf(read), 'sandbox_file_not_found');
  });
});

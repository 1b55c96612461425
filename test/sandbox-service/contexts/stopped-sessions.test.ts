/**
 * A session's name is not a key to a workspace: once its last context is gone, every file
 * route asked as the MCP side asks (EXISTING_SESSION_HEADER: the session must exist)
 * answers 404 "unknown or expired context" and builds nothing (no loop-mounted image, no
 * uid, no file worker). The attack the security review ran: create → stop → file calls
 * with the stopped session's name, in rounds, against a real sandbox as root. (Without
 * the header a file route opens a counted workspace: test/sandbox-service/files/files-first.test.ts.)
 * Also the tenant quota on POST /contexts: counted and refused in one step.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startSandbox, type RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { tenantShare } from '../../../src/sandbox-service/contexts/tenant-quota.ts';
import { EXISTING_SESSION_HEADER, QUOTA_REFUSAL, UNKNOWN_SESSION_REFUSAL } from '../../../src/protocol/sandbox-api.ts';
import { eventually } from '../../support/eventually.ts';
import { holdings, isEmpty } from '../../support/host-leftovers.ts';
import { createContext, request } from '../../support/sandbox-support.ts';

const MAX_CONTEXTS = 8;
let sandbox: RunningSandbox;
let url: string;

before(async () => {
  sandbox = await startSandbox({ port: 0, poolSize: 0, maxContexts: MAX_CONTEXTS, diskMb: 64 });
  url = sandbox.url;
});
after(async () => {
  await sandbox?.close();
});

const session = (name: string) => ({ 'x-ci-session-id': name });
/** The headers of the MCP side's requests: the session must exist. */
const existing = (name: string) => ({ ...session(name), [EXISTING_SESSION_HEADER]: '1' });

/** Every file route, as a client would call it, for the session. */
function fileCalls(headers: Record<string, string>): [string, () => Promise<{ status: number; text: string }>][] {
  const upload = async () => {
    const form = new FormData();
    form.append('path', 'up.bin');
    form.append('file', new Blob([new Uint8Array(4096)]), 'up.bin');
    const response = await fetch(`${url}/filesystem/upload`, { method: 'POST', headers, body: form });
    return { status: response.status, text: await response.text() };
  };
  const download = async () => {
    const response = await fetch(`${url}/filesystem/download?path=a.txt`, { headers });
    return { status: response.status, text: await response.text() };
  };
  return [
    ['POST /files', () => request(url, 'POST', '/files', { path: 'a.txt', content: 'ghost' }, headers)],
    ['GET /files', () => request(url, 'GET', '/files?path=a.txt', undefined, headers)],
    ['GET /filesystem', () => request(url, 'GET', '/filesystem', undefined, headers)],
    ['GET /filesystem/stat', () => request(url, 'GET', '/filesystem/stat?path=a.txt', undefined, headers)],
    ['GET /filesystem/download', download],
    ['POST /filesystem/upload', upload],
    ['POST /filesystem/mkdir', () => request(url, 'POST', '/filesystem/mkdir', { path: 'd' }, headers)],
    ['POST /filesystem/move', () => request(url, 'POST', '/filesystem/move', { source: 'a.txt', destination: 'b.txt' }, headers)],
    ['POST /filesystem/remove', () => request(url, 'POST', '/filesystem/remove', { path: 'a.txt' }, headers)],
  ];
}

describe('file routes asked for an existing session never create one', () => {
  test('10 rounds of create → stop → every file route: each a 404 "unknown or expired context", nothing left on the host', async () => {
    assert.ok(isEmpty(holdings(sandbox.workspaceRoot)), JSON.stringify(holdings(sandbox.workspaceRoot)));
    for (let round = 0; round < 10; round++) {
      const headers = session(`ghost-${round}`);
      const id = await createContext(url, {}, headers);
      assert.equal((await request(url, 'POST', '/files', { path: 'a.txt', content: 'live' }, headers)).status, 200);
      if (round === 0) {
        // The probe sees what a live session holds: its workspace, its kernel and worker, and as root its disk.
        const held = holdings(sandbox.workspaceRoot);
        assert.equal(held.workspaces.length, 1, JSON.stringify(held));
        assert.ok(held.processes.length >= 2, JSON.stringify(held));
        if (process.getuid?.() === 0) assert.ok(held.mounts.length === 1 && held.loopDevices.length === 1, JSON.stringify(held));
      }
      assert.equal((await request(url, 'DELETE', `/contexts/${id}`, undefined, headers)).status, 200);
      for (const [name, call] of fileCalls(existing(`ghost-${round}`))) {
        const answer = await call();
        assert.equal(answer.status, 404, `${name}: ${answer.text}`);
        assert.ok(answer.text.startsWith(UNKNOWN_SESSION_REFUSAL), `${name}: ${answer.text}`);
      }
      assert.equal(await sandbox.workspaceOf(`ghost-${round}`), undefined, 'no workspace came back');
    }
    const clean = await eventually(() => isEmpty(holdings(sandbox.workspaceRoot)));
    assert.ok(clean, `left behind: ${JSON.stringify(holdings(sandbox.workspaceRoot))}`);
    assert.deepEqual((await request(url, 'GET', '/sessions')).json, []);
  });

  test('a session that never had a context, asked to exist, gets the same 404, and the sandbox still serves files to a live one', async () => {
    for (const [name, call] of fileCalls(existing('never-created'))) {
      const answer = await call();
      assert.equal(answer.status, 404, `${name}: ${answer.text}`);
      assert.ok(answer.text.startsWith(UNKNOWN_SESSION_REFUSAL), `${name}: ${answer.text}`);
    }
    const live = session('alive');
    const id = await createContext(url, {}, live);
    assert.equal((await request(url, 'POST', '/files', { path: 'a.txt', content: 'kept' }, live)).status, 200);
    assert.equal((await request(url, 'GET', '/files?path=a.txt', undefined, existing('alive'))).json.content, 'kept');
    await request(url, 'DELETE', `/contexts/${id}`, undefined, live);
  });
});

describe('the tenant quota on POST /contexts', () => {
  const quota = (prefix: string, max: number) => ({ quota: { session_prefix: prefix, max_contexts: max } });

  test('8 parallel creations under a quota of 3 make exactly 3; the refusals say why', async () => {
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => request(url, 'POST', '/contexts', quota('t1-', 3), session(`t1-${i}`))),
    );
    const made = answers.filter((answer) => answer.status === 200);
    assert.equal(made.length, 3, answers.map((answer) => `${answer.status} ${answer.text}`).join('\n'));
    for (const refused of answers.filter((answer) => answer.status !== 200)) {
      assert.equal(refused.status, 429);
      assert.ok(refused.text.startsWith(`${QUOTA_REFUSAL}: 3 live contexts, at most 3 per tenant`), refused.text);
    }
    // Another tenant's quota is its own; the sandbox's limit counts both.
    const other = await request(url, 'POST', '/contexts', quota('t2-', 3), session('t2-0'));
    assert.equal(other.status, 200, other.text);
    for (const [i, answer] of answers.entries()) {
      if (answer.status === 200) await request(url, 'DELETE', `/contexts/${answer.json.id}`, undefined, session(`t1-${i}`));
    }
    await request(url, 'DELETE', `/contexts/${other.json.id}`, undefined, session('t2-0'));
  });

  test("a quota above the sandbox's share leaves a quarter of SANDBOX_MAX_CONTEXTS to the other tenants", async () => {
    const share = tenantShare(MAX_CONTEXTS);
    assert.equal(share, 6);
    const answers = await Promise.all(
      Array.from({ length: MAX_CONTEXTS }, (_, i) => request(url, 'POST', '/contexts', quota('greedy-', 100), session(`greedy-${i}`))),
    );
    assert.equal(answers.filter((answer) => answer.status === 200).length, share);
    const refusal = answers.find((answer) => answer.status === 429)!;
    assert.match(refusal.text, /the most one tenant may hold in this sandbox \(SANDBOX_MAX_CONTEXTS=8/);
    const other = await request(url, 'POST', '/contexts', quota('modest-', 100), session('modest-0'));
    assert.equal(other.status, 200, other.text);
    for (const [i, answer] of answers.entries()) {
      if (answer.status === 200) await request(url, 'DELETE', `/contexts/${answer.json.id}`, undefined, session(`greedy-${i}`));
    }
    await request(url, 'DELETE', `/contexts/${other.json.id}`, undefined, session('modest-0'));
  });

  test("a quota whose prefix does not begin the session's name is refused (400)", async () => {
    const answer = await request(url, 'POST', '/contexts', quota('mine-', 3), session('theirs-0'));
    assert.equal(answer.status, 400);
    assert.match(answer.text, /session_prefix "mine-" does not begin/);
  });
});

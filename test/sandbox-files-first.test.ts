/**
 * Files before any context, as AgentRun's and E2B's clients work: a file route opens the
 * session's workspace on a fresh sandbox. Such a workspace counts as one context against
 * SANDBOX_MAX_CONTEXTS until the session holds one (its first context takes that count
 * over), a failed creation keeps its files, and a session holding only files ends after
 * the idle timeout, leaving nothing on the host. Real sandbox processes, as root where
 * the tests run as root (loop-mounted workspaces).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startSandbox, type RunningSandbox } from '../src/sandbox-service/index.ts';
import { eventually } from './support/eventually.ts';
import { holdings, isEmpty } from './support/host-leftovers.ts';
import { createContext, execute, request } from './support/sandbox-support.ts';

const MAX_CONTEXTS = 3;
const session = (name: string) => ({ 'x-ci-session-id': name });

describe('files before any context', () => {
  let sandbox: RunningSandbox;
  let url: string;
  before(async () => {
    sandbox = await startSandbox({ port: 0, poolSize: 0, maxContexts: MAX_CONTEXTS, diskMb: 64, idleTimeoutSeconds: 0 });
    url = sandbox.url;
  });
  after(async () => {
    await sandbox?.close();
  });

  test('a fresh session writes, lists and reads files, then its first context sees them', async () => {
    const headers = session('data-first');
    const written = await request(url, 'POST', '/files', { path: 'in/data.csv', content: 'a,b\n1,2\n' }, headers);
    assert.equal(written.status, 200, written.text);
    assert.ok(await sandbox.workspaceOf('data-first'), 'the file route opened a workspace');
    const listing = await request(url, 'GET', '/filesystem?path=in', undefined, headers);
    assert.equal(listing.status, 200, listing.text);
    assert.deepEqual(
      listing.json.entries.map((entry: { name: string }) => entry.name),
      ['data.csv'],
    );
    assert.equal((await request(url, 'GET', '/files?path=in/data.csv', undefined, headers)).json.content, 'a,b\n1,2\n');
    // GET /sessions lists sessions holding contexts: one holding only files is not among them.
    assert.deepEqual((await request(url, 'GET', '/sessions')).json, []);

    const id = await createContext(url, {}, headers);
    const run = await execute(url, { context_id: id, code: 'open("in/data.csv").read().count("\\n")' }, headers);
    assert.equal(run.results[0]?.text, '2', JSON.stringify(run));
    assert.equal((await request(url, 'DELETE', `/contexts/${id}`, undefined, headers)).status, 200);
    assert.equal(await sandbox.workspaceOf('data-first'), undefined, 'its last context took the session with it');
  });

  test(`sessions holding only files count as contexts: past ${MAX_CONTEXTS} a file route and a creation are 429; a first context takes its session's count over`, async () => {
    for (let i = 0; i < MAX_CONTEXTS; i++) {
      const answer = await request(url, 'POST', '/filesystem/mkdir', { path: 'd' }, session(`only-files-${i}`));
      assert.equal(answer.status, 200, answer.text);
    }
    const overFiles = await request(url, 'POST', '/files', { path: 'a.txt', content: 'x' }, session('one-too-many'));
    assert.equal(overFiles.status, 429, overFiles.text);
    assert.match(
      overFiles.text,
      /context limit reached: this sandbox holds at most 3 contexts \(a session holding only files counts as one\)/,
    );
    assert.equal(await sandbox.workspaceOf('one-too-many'), undefined);
    const form = new FormData();
    form.append('path', 'up.bin');
    form.append('file', new Blob([new Uint8Array(1024)]));
    const overUpload = await fetch(`${url}/filesystem/upload`, { method: 'POST', headers: session('one-too-many'), body: form });
    assert.equal(overUpload.status, 429, await overUpload.text());
    const overCreate = await request(url, 'POST', '/contexts', {}, session('one-too-many'));
    assert.equal(overCreate.status, 429, overCreate.text);

    // A session holding files is already counted: its first context fits, its files are there.
    const id = await createContext(url, {}, session('only-files-0'));
    const run = await execute(url, { context_id: id, code: 'import os; os.path.isdir("d")' }, session('only-files-0'));
    assert.equal(run.results[0]?.text, 'True', JSON.stringify(run));
    // Still at the limit: no other session may open a workspace.
    assert.equal((await request(url, 'GET', '/filesystem', undefined, session('one-too-many'))).status, 429);
    await request(url, 'DELETE', `/contexts/${id}`, undefined, session('only-files-0'));
    // Its workspace went with its last context: room for one more.
    assert.equal((await request(url, 'GET', '/filesystem', undefined, session('one-too-many'))).status, 200);
  });

  test("a session's failed first creation keeps the files it held", async () => {
    const headers = session('only-files-1'); // the sandbox is at its limit: a session from the test above
    assert.equal((await request(url, 'POST', '/files', { path: 'a.txt', content: 'kept' }, headers)).status, 200);
    // A cwd that is a file: the context cannot start there (400).
    const failed = await request(url, 'POST', '/contexts', { cwd: '/home/user/a.txt' }, headers);
    assert.equal(failed.status, 400, failed.text);
    assert.equal((await request(url, 'GET', '/files?path=a.txt', undefined, headers)).json?.content, 'kept');
  });
});

describe('a session holding only files', () => {
  let sandbox: RunningSandbox;
  before(async () => {
    sandbox = await startSandbox({ port: 0, poolSize: 0, diskMb: 64, idleTimeoutSeconds: 1 });
  });
  after(async () => {
    await sandbox?.close();
  });

  test('ends after the idle timeout: its workspace, worker and disk leave the host', async () => {
    const headers = session('idle-files');
    assert.equal((await request(sandbox.url, 'POST', '/files', { path: 'a.txt', content: 'x' }, headers)).status, 200);
    assert.ok(!isEmpty(holdings(sandbox.workspaceRoot)), 'the session holds a workspace and a worker');
    const gone = await eventually(async () => (await sandbox.workspaceOf('idle-files')) === undefined, 10_000);
    assert.ok(gone, 'the idle session ended');
    const clean = await eventually(() => isEmpty(holdings(sandbox.workspaceRoot)));
    assert.ok(clean, `left behind: ${JSON.stringify(holdings(sandbox.workspaceRoot))}`);
  });
});

/**
 * Files before any context, as AgentRun's and E2B's clients work: a file route opens the
 * session's workspace on a fresh sandbox. Such a workspace counts as one context against
 * SANDBOX_MAX_CONTEXTS until the session holds one (its first context takes that count
 * over), a failed creation keeps its files, and a session holding only files ends after
 * the idle timeout, leaving nothing on the host. Real sandbox processes, as root where
 * the tests run as root (loop-mounted workspaces).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { startSandbox, type RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { eventually } from '../../support/eventually.ts';
import { holdings } from '../../support/host-leftovers.ts';
import { createContext, execute, request } from '../../support/sandbox-support.ts';

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

/** How long a Python spare may take to boot on a loaded machine. */
const SPARE_UP_MS = 4000;

describe('a session opened by files and the pool', () => {
  let sandbox: RunningSandbox;
  before(async () => {
    sandbox = await startSandbox({ port: 0, poolSize: 1, diskMb: 64, idleTimeoutSeconds: 0 });
  });
  after(async () => {
    await sandbox?.close();
  });

  test("takes over a fresh spare that is up: its first context runs in the spare's kernel, started before the files came", async () => {
    assert.ok(await eventually(() => holdings(sandbox.workspaceRoot).processes.length > 0, 30_000), 'the pool starts a spare');
    await new Promise((resolve) => setTimeout(resolve, SPARE_UP_MS));
    const headers = session('spare-taker');
    assert.equal((await request(sandbox.url, 'POST', '/files', { path: 'a.txt', content: 'x' }, headers)).status, 200);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const asked = performance.now();
    const id = await createContext(sandbox.url, {}, headers);
    // The kernel's age, from the host-wide clock ticks of /proc (the jail's pid namespace keeps them).
    const age = await execute(
      sandbox.url,
      {
        context_id: id,
        code: 'import os\nuptime = float(open("/proc/uptime").read().split()[0])\nstart = int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19])\nround(uptime - start / os.sysconf("SC_CLK_TCK"), 2)',
      },
      headers,
    );
    const since = (performance.now() - asked) / 1000;
    const kernelAge = Number(age.results[0]?.text);
    assert.ok(kernelAge > since + 1, `the kernel is ${kernelAge} s old, the context was asked for ${since.toFixed(2)} s ago`);
    assert.equal((await execute(sandbox.url, { context_id: id, code: 'open("a.txt").read()' }, headers)).results[0]?.text, 'x');
  });
});

describe("E2B's clients (no session header)", () => {
  let sandbox: RunningSandbox;
  before(async () => {
    sandbox = await startSandbox({ port: 0, poolSize: 0 });
  });
  after(async () => {
    await sandbox?.close();
  });

  test('write a file on a fresh sandbox, then run code by language in the default context that reads it', async () => {
    const written = await request(sandbox.url, 'POST', '/files', { path: 'input.txt', content: 'e2b' });
    assert.equal(written.status, 200, written.text);
    assert.equal((await request(sandbox.url, 'GET', '/files?path=input.txt')).json.content, 'e2b');
    const run = await execute(sandbox.url, { language: 'python', code: 'open("input.txt").read()' });
    assert.equal(run.results[0]?.text, 'e2b', JSON.stringify(run));
  });
});

describe('a session holding only files', () => {
  let sandbox: RunningSandbox;
  before(async () => {
    sandbox = await startSandbox({ port: 0, poolSize: 1, diskMb: 64, idleTimeoutSeconds: 1 });
  });
  after(async () => {
    await sandbox?.close();
  });

  test('ends after the idle timeout: its workspace, worker, disk and the spare kernel it took over leave the host', async () => {
    // The pool's one spare, up: what the host holds without any session.
    assert.ok(await eventually(() => holdings(sandbox.workspaceRoot).processes.length > 0, 30_000), 'the pool starts a spare');
    await new Promise((resolve) => setTimeout(resolve, SPARE_UP_MS));
    const spareOnly = holdings(sandbox.workspaceRoot);
    const headers = session('idle-files');
    assert.equal((await request(sandbox.url, 'POST', '/files', { path: 'a.txt', content: 'x' }, headers)).status, 200);
    const workspace = await sandbox.workspaceOf('idle-files');
    assert.ok(workspace, 'the session holds a workspace');
    const gone = await eventually(async () => (await sandbox.workspaceOf('idle-files')) === undefined, 10_000);
    assert.ok(gone, 'the idle session ended');
    // Left: the pool's refilled spare alone, as before the session.
    const settled = await eventually(() => {
      const held = holdings(sandbox.workspaceRoot);
      return held.workspaces.length === 1 && held.processes.length === spareOnly.processes.length && !existsSync(workspace);
    }, 30_000);
    assert.ok(settled, `left behind: ${JSON.stringify(holdings(sandbox.workspaceRoot))}, before: ${JSON.stringify(spareOnly)}`);
  });
});

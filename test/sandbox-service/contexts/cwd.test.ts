/**
 * A context's cwd anywhere the jail allows (E2B's clients ask for `/root`): a private tmpfs
 * there, capped like /tmp, empty at start; escape attempts through the cwd (covering or
 * entering what the jail mounts, `..` tricks) are refused with a 400 naming the clash.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { startSandbox, type RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { createContext, execute, request } from '../../support/sandbox-support.ts';

const S = { 'x-ci-session-id': 'cwd-test' };
let sandbox: RunningSandbox;
let url: string;

before(async () => {
  sandbox = await startSandbox({ port: 0, poolSize: 1 });
  url = sandbox.url;
});
after(async () => {
  await sandbox?.close();
});

describe('a context cwd outside the workspace', () => {
  test('cwd /root: created, writable, private to the kernel, nothing of the host /root shows or changes', async () => {
    const marker = `marker-${randomUUID()}`;
    const id = await createContext(url, { language: 'python', cwd: '/root' }, S);
    const listed = await request(url, 'GET', '/contexts', undefined, S);
    assert.equal(listed.json.find((context: { id: string }) => context.id === id)?.cwd, '/root');
    const run = await execute(
      url,
      {
        code: `import os\nbefore = sorted(os.listdir("."))\nopen("${marker}", "w").write("x")\n(os.getcwd(), before, os.listdir("."))`,
        context_id: id,
      },
      S,
    );
    assert.equal(run.error, undefined, run.error?.traceback);
    assert.equal(run.results[0]?.text, `('/root', [], ['${marker}'])`);
    assert.equal(existsSync(`/root/${marker}`), false, "the host's /root is untouched");
    // The workspace is still there, and still the session's.
    const workspace = await execute(url, { code: 'open("/home/user/w.txt", "w").write("ok")', context_id: id }, S);
    assert.equal(workspace.error, undefined, workspace.error?.traceback);
  });

  test('a deep new cwd is created; a JavaScript context gets one too; a restart keeps the cwd', async () => {
    const python = await createContext(url, { language: 'python', cwd: '/srv/app/data/' }, S);
    assert.equal((await execute(url, { code: 'import os; os.getcwd()', context_id: python }, S)).results[0]?.text, '/srv/app/data');
    assert.equal((await request(url, 'POST', `/contexts/${python}/restart`, undefined, S)).status, 200);
    assert.equal((await execute(url, { code: 'import os; os.getcwd()', context_id: python }, S)).results[0]?.text, '/srv/app/data');
    const js = await createContext(url, { language: 'javascript', cwd: '/root' }, S);
    const run = await execute(url, { code: 'Deno.writeTextFileSync("f", "1"); Deno.cwd()', context_id: js }, S);
    assert.equal(run.results[0]?.text, '/root');
  });

  test('escape attempts through cwd are refused, naming the clash', async () => {
    for (const [cwd, clash] of [
      ['/', /would cover \/usr/],
      ['/usr/local/x', /is inside \/usr/],
      ['/etc', /is inside \/etc/],
      ['/home', /would cover \/home\/user/],
      ['/run/kernel', /is inside \/run/],
      ['/proc/self', /is inside \/proc/],
      ['/root/../lib/x', /is inside \/lib/],
    ] as const) {
      const refused = await request(url, 'POST', '/contexts', { language: 'python', cwd }, S);
      assert.equal(refused.status, 400, `${cwd}: ${refused.text}`);
      assert.match(refused.text, clash, cwd);
    }
    // The sandbox goes on.
    assert.equal((await execute(url, { code: '1 + 1', language: 'python' }, S)).results[0]?.text, '2');
  });
});

/**
 * install_packages on the sandbox side (POST /contexts/:id/packages), in the real jail, offline:
 * the index is a PEP 503 simple index on loopback (wheels built here with pip), reached through the
 * context's policy proxy, 127.0.0.1 allowed as a private host. The packages land in the session's
 * workspace and import in the running kernel, its variables kept; `%pip` and `!pip` install to the
 * same place under the context's own policy; a bad name answers pip's own text; a download
 * beyond the workspace's disk quota fails saying so; a file host outside the allowance is refused
 * at once with the policy's 403.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startSandbox, type RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { buildWheel, serveNpmRegistry, servePipIndex, type Upstream } from '../../support/package-index.ts';
import { createContext, execute, request } from '../../support/sandbox-support.ts';

let wheels: string;
let index: Upstream;
let registry: Upstream;

before(
  async () => {
    wheels = await mkdtemp(join(tmpdir(), 'fc-wheels-'));
    await buildWheel(wheels, { name: 'fc-demo', version: '1.2.0', files: { '__init__.py': 'VALUE = 42\n' } });
    await buildWheel(wheels, { name: 'fc-magic', version: '0.3.0', files: { '__init__.py': 'NAME = "magic"\n' } });
    await buildWheel(wheels, { name: 'fc-bang', version: '0.4.0', files: { '__init__.py': 'NAME = "bang"\n' } });
    // 24 MiB of incompressible text: more than the small sandbox's 16 MiB workspace holds.
    await buildWheel(wheels, {
      name: 'fc-huge',
      version: '1.0.0',
      files: { '__init__.py': `DATA = "${randomBytes(18 * 1024 * 1024).toString('base64')}"\n` },
    });
    index = await servePipIndex(wheels);
    registry = await serveNpmRegistry([
      { name: 'fc-npm-demo', version: '3.1.4', files: { 'index.js': 'export const answer = 42;\nexport default "fc";\n' } },
    ]);
  },
  { timeout: 240_000 },
);
after(async () => {
  await index?.close();
  await registry?.close();
  if (wheels) await rm(wheels, { recursive: true, force: true });
});

const install = (sandbox: RunningSandbox, session: Record<string, string>, id: string, body: Record<string, unknown>) =>
  request(sandbox.url, 'POST', `/contexts/${id}/packages`, body, session);

describe('a sandbox whose index is on loopback', () => {
  let sandbox: RunningSandbox;
  before(async () => {
    sandbox = await startSandbox({
      port: 0,
      poolSize: 0,
      pipIndexUrl: index.url,
      npmRegistry: registry.url,
      egressAllow: ['127.0.0.1'],
      egressPrivateHosts: ['127.0.0.1'],
    });
  });
  after(() => sandbox?.close());

  test('npm install then import in a JavaScript context: no restart, variables kept, from the cache, not the network', async () => {
    const session = { 'x-ci-session-id': 'pkg-npm' };
    const id = await createContext(sandbox.url, { language: 'javascript' }, session);
    assert.equal((await execute(sandbox.url, { context_id: id, code: 'var kept = 7' }, session)).error, undefined);
    const answer = await install(sandbox, session, id, { packages: ['fc-npm-demo@^3'] });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.json.manager, 'npm');
    assert.equal(answer.json.ok, true, answer.json.output);
    assert.deepEqual(answer.json.installed, [{ name: 'fc-npm-demo', version: '3.1.4' }]);
    const fetched = registry.requests.length;
    const used = await execute(
      sandbox.url,
      { context_id: id, code: 'const demo = await import("npm:fc-npm-demo@^3");\nconsole.log(demo.answer, demo.default, kept)' },
      session,
    );
    assert.equal(used.error, undefined, JSON.stringify(used.error));
    assert.equal(used.stdout, '42 fc 7\n');
    assert.equal(registry.requests.length, fetched, 'the kernel asked the registry nothing');
    const ts = await createContext(sandbox.url, { language: 'typescript' }, session);
    const typed = await execute(
      sandbox.url,
      { context_id: ts, code: 'import { answer } from "npm:fc-npm-demo@3.1.4";\nconst n: number = answer;\nconsole.log(n)' },
      session,
    );
    assert.equal(typed.stdout, '42\n', JSON.stringify(typed.error));
    const wrong = await install(sandbox, session, id, { manager: 'pip', packages: ['fc-demo'] });
    assert.equal(wrong.status, 400);
    assert.match(wrong.text, /javascript context: its packages come from npm, not pip/);
    const missing = await install(sandbox, session, id, { packages: ['fc-npm-missing'] });
    assert.equal(missing.json.ok, false);
    assert.match(missing.json.output, /fc-npm-missing/);
  });

  test('install then import in the same context: no restart, variables kept, in the workspace, still there after a restart', async () => {
    const session = { 'x-ci-session-id': 'pkg-install' };
    const id = await createContext(sandbox.url, {}, session);
    assert.equal((await execute(sandbox.url, { context_id: id, code: 'kept = 7' }, session)).error, undefined);
    const started = Date.now();
    const answer = await install(sandbox, session, id, { manager: 'pip', packages: ['fc-demo==1.2.0'] });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.json.ok, true, answer.json.output);
    assert.deepEqual(answer.json.installed, [{ name: 'fc-demo', version: '1.2.0' }]);
    assert.match(answer.json.output, /Successfully installed fc-demo-1\.2\.0/);
    console.log(`install took ${Date.now() - started} ms`);
    const used = await execute(
      sandbox.url,
      { context_id: id, code: 'import fc_demo\nprint(fc_demo.VALUE, kept, fc_demo.__file__)' },
      session,
    );
    assert.equal(used.error, undefined, JSON.stringify(used.error));
    assert.match(used.stdout, /^42 7 \/home\/user\/\.packages\/python\/lib\/python3\.\d+\/site-packages\/fc_demo\/__init__\.py/);
    // The context's policy allows nothing: the index was allowed for the install only.
    const after = await execute(
      sandbox.url,
      { context_id: id, code: `import urllib.request\nurllib.request.urlopen("${index.url}/")` },
      session,
    );
    assert.match(`${after.error?.value}`, /403/);
    // Installed once: the same spec again installs nothing.
    const again = await install(sandbox, session, id, { packages: ['fc-demo'] });
    assert.equal(again.json.ok, true);
    assert.deepEqual(again.json.installed, []);
    assert.match(again.json.output, /already satisfied/);
    assert.equal((await request(sandbox.url, 'POST', `/contexts/${id}/restart`, undefined, session)).status, 200);
    const restarted = await execute(sandbox.url, { context_id: id, code: 'import fc_demo\nprint(fc_demo.VALUE)' }, session);
    assert.equal(restarted.stdout, '42\n');
  });

  test("%pip install and !pip install in run_code land in the workspace under the context's own policy", async () => {
    const session = { 'x-ci-session-id': 'pkg-magic' };
    const denied = await createContext(sandbox.url, {}, session);
    const started = Date.now();
    const refused = await execute(sandbox.url, { context_id: denied, code: '%pip install fc-magic' }, session);
    assert.ok(Date.now() - started < 15_000, `refused in ${Date.now() - started} ms`);
    assert.match(refused.stdout + refused.stderr, /403|No matching distribution/);
    const allowed = await createContext(sandbox.url, { allowOut: ['127.0.0.1'] }, session);
    const magic = await execute(
      sandbox.url,
      { context_id: allowed, code: 'x = 1\n%pip install fc-magic\nimport fc_magic\nprint(fc_magic.NAME, x)' },
      session,
    );
    assert.equal(magic.error, undefined, JSON.stringify(magic.error));
    assert.match(magic.stdout, /Successfully installed fc-magic-0\.3\.0/);
    assert.match(magic.stdout, /magic 1\n$/);
    const bang = await execute(sandbox.url, { context_id: allowed, code: '!pip install fc-bang' }, session);
    assert.match(bang.stdout, /Successfully installed fc-bang-0\.4\.0/);
    const next = await execute(sandbox.url, { context_id: allowed, code: 'import fc_bang\nprint(fc_bang.NAME, x)' }, session);
    assert.equal(next.stdout, 'bang 1\n', JSON.stringify(next.error));
    // pip's other commands see everything: the system's packages and the session's.
    const listed = await execute(sandbox.url, { context_id: allowed, code: '!pip list 2>/dev/null' }, session);
    assert.match(listed.stdout, /^numpy /m);
    assert.match(listed.stdout, /^fc-magic +0\.3\.0/m);
    // Same session, same workspace: the first context imports them too.
    const other = await execute(sandbox.url, { context_id: denied, code: 'import fc_magic, fc_bang\nprint("both")' }, session);
    assert.equal(other.stdout, 'both\n', JSON.stringify(other.error));
  });

  test("a name the index does not have answers pip's own error text", async () => {
    const session = { 'x-ci-session-id': 'pkg-missing' };
    const id = await createContext(sandbox.url, {}, session);
    const answer = await install(sandbox, session, id, { packages: ['fc-no-such-package'] });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.json.ok, false);
    assert.notEqual(answer.json.exit_code, 0);
    assert.match(answer.json.output, /No matching distribution found for fc-no-such-package/);
  });

  test('specs that smuggle options, URLs or paths, and a manager the language does not use, are refused before anything runs', async () => {
    const session = { 'x-ci-session-id': 'pkg-refused' };
    const id = await createContext(sandbox.url, {}, session);
    for (const spec of [
      '--index-url=http://evil.test/simple',
      '-r',
      'pkg @ http://evil.test/pkg.whl',
      './local',
      'git+https://x.test/r',
      'a;b',
    ]) {
      const answer = await install(sandbox, session, id, { manager: 'pip', packages: [spec] });
      assert.equal(answer.status, 400, spec);
      assert.match(answer.text, /refused/, spec);
    }
    const unspecified = await install(sandbox, session, id, { packages: ['-e.'] });
    assert.equal(unspecified.status, 400);
    assert.match(unspecified.text, /options are not accepted/);
    const wrong = await install(sandbox, session, id, { manager: 'npm', packages: ['lodash'] });
    assert.equal(wrong.status, 400);
    assert.match(wrong.text, /python context: its packages come from pip, not npm/);
    const bash = await createContext(sandbox.url, { language: 'bash' }, session);
    const none = await install(sandbox, session, bash, { packages: ['fc-demo'] });
    assert.equal(none.status, 400);
    assert.match(none.text, /no package manager/);
    const unknown = await install(sandbox, session, 'no-such-context', { packages: ['fc-demo'] });
    assert.equal(unknown.status, 404);
  });
});

describe('a file host the allowance does not cover', () => {
  let sandbox: RunningSandbox;
  let split: Upstream;
  before(async () => {
    // The index is 127.0.0.1, its files are on "localhost": only the index's host is allowed for the install.
    split = await servePipIndex(wheels, { fileHost: 'localhost' });
    sandbox = await startSandbox({
      port: 0,
      poolSize: 0,
      pipIndexUrl: split.url,
      egressAllow: ['127.0.0.1'],
      egressPrivateHosts: ['127.0.0.1', 'localhost'],
    });
  });
  after(async () => {
    await sandbox?.close();
    await split?.close();
  });

  test("fails fast with the policy's 403, naming the host", async () => {
    const session = { 'x-ci-session-id': 'pkg-denied' };
    const id = await createContext(sandbox.url, {}, session);
    const started = Date.now();
    const answer = await install(sandbox, session, id, { packages: ['fc-demo'] });
    const took = Date.now() - started;
    assert.equal(answer.json.ok, false, answer.text);
    assert.match(answer.json.output, /403/);
    assert.match(answer.json.output, /localhost/);
    assert.ok(took < 15_000, `took ${took} ms`);
    assert.ok(!split.requests.some((path) => path.startsWith('/files/')), 'no file was fetched');
  });
});

describe('a workspace too small for the package', () => {
  let sandbox: RunningSandbox;
  before(async () => {
    sandbox = await startSandbox({
      port: 0,
      poolSize: 0,
      diskMb: 16,
      pipIndexUrl: index.url,
      egressAllow: ['127.0.0.1'],
      egressPrivateHosts: ['127.0.0.1'],
    });
  });
  after(() => sandbox?.close());

  test('an install over the disk quota fails saying so, and the context goes on', async () => {
    const session = { 'x-ci-session-id': 'pkg-quota' };
    const id = await createContext(sandbox.url, {}, session);
    const answer = await install(sandbox, session, id, { packages: ['fc-huge'] });
    assert.equal(answer.json.ok, false, answer.text);
    assert.match(answer.json.output, /No space left on device/);
    const alive = await execute(sandbox.url, { context_id: id, code: 'print("still here")' }, session);
    assert.equal(alive.stdout, 'still here\n');
  });
});

/**
 * install_packages with the jail off (SANDBOX_JAIL=off, as in a container that forbids
 * namespaces), the policy advisory (SANDBOX_EGRESS_ADVISORY=true): pip and Deno run under the
 * session's uid with the proxy variables set, into the session's workspace, and the packages
 * import in the running kernels. Its own file: the jail's mode is decided once per process.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startSandbox, type RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { buildWheel, serveNpmRegistry, servePipIndex, type Upstream } from '../../support/package-index.ts';
import { createContext, execute, request } from '../../support/sandbox-support.ts';

let wheels: string;
let index: Upstream;
let registry: Upstream;
let sandbox: RunningSandbox;
const session = { 'x-ci-session-id': 'pkg-jail-off' };

before(
  async () => {
    wheels = await mkdtemp(join(tmpdir(), 'fc-wheels-'));
    await buildWheel(wheels, { name: 'fc-off', version: '1.0.0', files: { '__init__.py': 'V = 3\n' } });
    index = await servePipIndex(wheels);
    registry = await serveNpmRegistry([{ name: 'fc-off-npm', version: '1.0.0', files: { 'index.js': 'export const a = 9;\n' } }]);
    sandbox = await startSandbox(
      {
        host: '127.0.0.1',
        port: 0,
        poolSize: 0,
        jail: 'off',
        egressAdvisory: true,
        pipIndexUrl: index.url,
        npmRegistry: registry.url,
        egressAllow: ['127.0.0.1'],
        egressPrivateHosts: ['127.0.0.1'],
      },
      { log: () => {} },
    );
  },
  { timeout: 180_000 },
);
after(async () => {
  await sandbox?.close();
  await index?.close();
  await registry?.close();
  if (wheels) await rm(wheels, { recursive: true, force: true });
});

test('pip: installed into the workspace, imported in the running kernel with its variables', async () => {
  const id = await createContext(sandbox.url, {}, session);
  await execute(sandbox.url, { context_id: id, code: 'k = 1' }, session);
  const answer = await request(sandbox.url, 'POST', `/contexts/${id}/packages`, { packages: ['fc-off'] }, session);
  assert.equal(answer.json?.ok, true, answer.text);
  assert.deepEqual(answer.json.installed, [{ name: 'fc-off', version: '1.0.0' }]);
  const used = await execute(
    sandbox.url,
    { context_id: id, code: 'import fc_off\nprint(fc_off.V, k, "/.packages/python/" in fc_off.__file__)' },
    session,
  );
  assert.equal(used.stdout, '3 1 True\n', JSON.stringify(used.error));
});

test('npm: cached by Deno in the workspace, imported as npm:<name> in the running kernel', async () => {
  const id = await createContext(sandbox.url, { language: 'javascript' }, session);
  const answer = await request(sandbox.url, 'POST', `/contexts/${id}/packages`, { packages: ['fc-off-npm'] }, session);
  assert.equal(answer.json?.ok, true, answer.text);
  assert.deepEqual(answer.json.installed, [{ name: 'fc-off-npm', version: '1.0.0' }]);
  const used = await execute(sandbox.url, { context_id: id, code: 'const m = await import("npm:fc-off-npm");\nconsole.log(m.a)' }, session);
  assert.equal(used.stdout, '9\n', JSON.stringify(used.error));
});

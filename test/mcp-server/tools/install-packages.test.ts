/**
 * install_packages through a real MCP server on a real sandbox (jail, policy proxy), offline: a
 * PEP 503 index on loopback with a wheel built here. The tool installs into the context's
 * workspace and the package imports in the next run_code with the variables kept; a bad name is
 * install_failed with pip's text; a refused spec or a manager the context's language does not use
 * is invalid_arguments, and nothing runs.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/client';
import type { RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { buildWheel, serveNpmRegistry, servePipIndex, type Upstream } from '../../support/package-index.ts';
import { call, connect, type McpProcess, startMcp, startTestSandbox, structured, textOf } from '../../support/mcp-harness.ts';

let wheels: string;
let index: Upstream;
let registry: Upstream;
let sandbox: RunningSandbox;
let mcp: McpProcess;
let client: Client;

before(
  async () => {
    wheels = await mkdtemp(join(tmpdir(), 'fc-wheels-'));
    await buildWheel(wheels, { name: 'fc-tool-demo', version: '2.0.1', files: { '__init__.py': 'VALUE = "from the index"\n' } });
    index = await servePipIndex(wheels);
    registry = await serveNpmRegistry([
      { name: 'fc-tool-npm', version: '0.9.0', files: { 'index.js': 'export const answer = "npm works";\n' } },
    ]);
    sandbox = await startTestSandbox({
      pipIndexUrl: index.url,
      npmRegistry: registry.url,
      egressAllow: ['127.0.0.1'],
      egressPrivateHosts: ['127.0.0.1'],
    });
    mcp = await startMcp({ SANDBOX_URL: sandbox.url });
    client = await connect(mcp.url);
    await client.listTools(); // from here on the client checks every structuredContent against the output schemas
  },
  { timeout: 180_000 },
);
after(async () => {
  await client?.close();
  await mcp?.stop();
  await sandbox?.close();
  await index?.close();
  await registry?.close();
  if (wheels) await rm(wheels, { recursive: true, force: true });
});

const contextOf = async (language = 'python') =>
  structured<{ context_id: string }>(await call(client, 'create_context', { language })).context_id;

test('install_packages then import in the same context, variables kept', async () => {
  const context_id = await contextOf();
  await call(client, 'run_code', { context_id, code: 'kept = [1, 2, 3]' });
  const installed = await call(client, 'install_packages', { context_id, packages: ['fc-tool-demo==2.0.1'] });
  assert.equal(installed.isError, undefined, textOf(installed));
  const answer = structured<{ success: boolean; manager: string; installed: { name: string; version: string }[] }>(installed);
  assert.equal(answer.manager, 'pip');
  assert.deepEqual(answer.installed, [{ name: 'fc-tool-demo', version: '2.0.1' }]);
  assert.match(textOf(installed), /installed fc-tool-demo 2\.0\.1/);
  const used = await call(client, 'run_code', { context_id, code: 'import fc_tool_demo\nprint(fc_tool_demo.VALUE, sum(kept))' });
  assert.match(textOf(used), /from the index 6/);
});

test('install_packages in a JavaScript context: npm by default, imported as npm:<name>, variables kept', async () => {
  const context_id = await contextOf('javascript');
  await call(client, 'run_code', { context_id, code: 'var kept = 5' });
  const installed = await call(client, 'install_packages', { context_id, packages: ['fc-tool-npm'] });
  assert.equal(installed.isError, undefined, textOf(installed));
  assert.equal(structured<{ manager: string }>(installed).manager, 'npm');
  assert.deepEqual(structured<{ installed: unknown[] }>(installed).installed, [{ name: 'fc-tool-npm', version: '0.9.0' }]);
  const used = await call(client, 'run_code', {
    context_id,
    code: 'const m = await import("npm:fc-tool-npm");\nconsole.log(m.answer, kept)',
  });
  assert.match(textOf(used), /npm works 5/);
});

test("a name the index does not have is install_failed with pip's own words", async () => {
  const context_id = await contextOf();
  const failed = await call(client, 'install_packages', { context_id, packages: ['fc-no-such-thing'] });
  assert.equal(failed.isError, true);
  assert.equal(structured<{ error: { kind: string } }>(failed).error.kind, 'install_failed');
  assert.match(textOf(failed), /pip install failed \(exit code 1\)/);
  assert.match(textOf(failed), /No matching distribution found for fc-no-such-thing/);
});

test('a spec that is an option or a URL, or npm for a Python context, is invalid_arguments', async () => {
  const context_id = await contextOf();
  for (const packages of [['-r', 'requirements.txt'], ['pkg @ https://evil.test/pkg.whl'], ['--extra-index-url=https://evil.test/']]) {
    const refused = await call(client, 'install_packages', { context_id, packages });
    assert.equal(refused.isError, true, packages.join(' '));
    assert.equal(structured<{ error: { kind: string } }>(refused).error.kind, 'invalid_arguments');
    assert.match(textOf(refused), /refused/);
  }
  const mismatch = await call(client, 'install_packages', { context_id, packages: ['lodash'], manager: 'npm' });
  assert.equal(mismatch.isError, true);
  assert.equal(structured<{ error: { kind: string } }>(mismatch).error.kind, 'invalid_arguments');
  assert.match(textOf(mismatch), /python context: its packages come from pip, not npm/);
  assert.ok(!index.requests.some((path) => path.includes('lodash') || path.includes('evil')), 'nothing was asked of the index');
});

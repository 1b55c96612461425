/**
 * The npm package as a user gets it: `npm run build`, `npm pack`, the tarball installed into an
 * empty folder outside the repository (dependencies from the npm registry, the local cache first),
 * and its bin `fc-code-interpreter-mcp` (dist/stdio.js) started the way a desktop client's
 * configuration starts it, with its own sandbox service. Driven over stdio by the 1.x MCP client
 * (`@modelcontextprotocol/sdk`, the bin by its path) and the 2.x one (`@modelcontextprotocol/client`,
 * through `npx -y fc-code-interpreter-mcp` as the README's configuration does): Python,
 * JavaScript (Deno, which the package brings), a chart, a file, stop. Also: what the tarball holds
 * and its size budget (docs/development.md#releases), and what the bin says on a machine without
 * the sandbox's Debian packages.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Client as ClientV2 } from '@modelcontextprotocol/client';
import { StdioClientTransport as StdioV2, getDefaultEnvironment as defaultEnvV2 } from '@modelcontextprotocol/client/stdio';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as StdioV1, getDefaultEnvironment as defaultEnvV1 } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ROOT } from '../support/mcp-harness.ts';
import { type ToolResult, useEveryPart } from '../support/every-part.ts';

const run = promisify(execFile);
const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  bin: Record<string, string>;
};
const BIN = 'fc-code-interpreter-mcp';

/** The budget docs/development.md#releases writes down: "at most N KiB packed, M KiB unpacked, F files". */
async function sizeBudget() {
  const docs = await readFile(join(ROOT, 'docs/development.md'), 'utf8');
  const found = /at most (\d+) KiB packed, (\d+) KiB unpacked, (\d+) files/.exec(docs);
  assert.ok(found, 'docs/development.md states the package size budget');
  return { packed: Number(found[1]) * 1024, unpacked: Number(found[2]) * 1024, files: Number(found[3]) };
}

interface Packed {
  filename: string;
  size: number;
  unpackedSize: number;
  files: { path: string; size: number }[];
}

let work: string;
let installDir: string;
let packed: Packed;

before(
  async () => {
    work = await mkdtemp(join(tmpdir(), 'fc-mcp-package-'));
    await run(process.execPath, ['scripts/build.mjs'], { cwd: ROOT });
    // --ignore-scripts: the build just ran (prepack would run it again).
    const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work, '--loglevel=error'], {
      cwd: ROOT,
    });
    packed = (JSON.parse(stdout) as Packed[])[0]!;
    installDir = join(work, 'app');
    await mkdir(installDir);
    await writeFile(join(installDir, 'package.json'), '{ "private": true }\n');
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', join(work, packed.filename)], {
      cwd: installDir,
      timeout: 300_000,
    });
  },
  { timeout: 360_000 },
);
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

test('the tarball holds what the bin needs and nothing else, within its size budget', async () => {
  const paths = packed.files.map((f) => f.path).sort();
  const budget = await sizeBudget();
  assert.ok(paths.includes(manifest.bin[BIN]!), `the bin ${manifest.bin[BIN]} is packed: ${paths.join(', ')}`);
  for (const asset of ['dist/python-prelude.py', 'dist/bash-kernel.py', 'dist/file-worker.py', 'infra/setup-sandbox.sh']) {
    assert.ok(paths.includes(asset), `${asset} is packed`);
  }
  const unwanted = paths.filter((p) =>
    /^(test|bench|src|handlers|scripts|docs)\/|\.pyc$|__pycache__|\.map$|^dist\/(fc\.js|chunks\/)/.test(p),
  );
  assert.deepEqual(unwanted, [], 'no tests, benches, sources, source maps, compiled Python or the FC bundle');
  assert.ok(packed.size <= budget.packed, `packed ${packed.size} B > budget ${budget.packed} B`);
  assert.ok(packed.unpackedSize <= budget.unpacked, `unpacked ${packed.unpackedSize} B > budget ${budget.unpacked} B`);
  assert.ok(paths.length <= budget.files, `${paths.length} files > budget ${budget.files}: ${paths.join(', ')}`);
});

describe('the installed bin over stdio', () => {
  test('1.x client (@modelcontextprotocol/sdk), the bin by its path', { timeout: 180_000 }, async () => {
    let stderr = '';
    const transport = new StdioV1({
      command: join(installDir, 'node_modules/.bin', BIN),
      cwd: installDir,
      env: { ...defaultEnvV1(), SANDBOX_POOL_SIZE: '0' },
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const client = new ClientV1({ name: 'package-test-v1', version: '1.0.0' });
    try {
      await client.connect(transport);
      assert.deepEqual(client.getServerVersion(), { name: 'fc-code-interpreter', version: manifest.version });
      await client.listTools(); // the 1.x client then checks structuredContent against each outputSchema
      await useEveryPart(async (name, args) => (await client.callTool({ name, arguments: args })) as ToolResult);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- the bin's stderr ---\n${stderr}`);
    } finally {
      await client.close();
    }
  });

  test('2.x client (@modelcontextprotocol/client), through npx -y as a desktop configuration does', { timeout: 180_000 }, async () => {
    let stderr = '';
    const transport = new StdioV2({
      command: 'npx',
      args: ['-y', manifest.name],
      cwd: installDir,
      env: { ...defaultEnvV2(), SANDBOX_POOL_SIZE: '0', npm_config_loglevel: 'error' },
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const client = new ClientV2({ name: 'package-test-v2', version: '1.0.0' });
    try {
      await client.connect(transport);
      assert.equal(client.getServerVersion()?.version, manifest.version);
      await useEveryPart(async (name, args) => (await client.callTool({ name, arguments: args })) as ToolResult);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- the bin's stderr ---\n${stderr}`);
    } finally {
      await client.close();
    }
  });

  test('without the sandbox Debian packages the bin says once what is missing and the command that installs them', async () => {
    // A dpkg that knows no package: the machine of a user who installed nothing but Node.
    const fakeBin = join(work, 'no-packages-bin');
    await mkdir(fakeBin, { recursive: true });
    await writeFile(join(fakeBin, 'dpkg-query'), '#!/bin/sh\necho "dpkg-query: no packages found matching $*" >&2\nexit 1\n');
    await chmod(join(fakeBin, 'dpkg-query'), 0o755);
    const started = performance.now();
    const outcome = await run(join(installDir, 'node_modules/.bin', BIN), [], {
      cwd: installDir,
      env: { ...defaultEnvV2(), PATH: `${fakeBin}:${process.env.PATH}` },
      timeout: 30_000,
    }).then(
      () => ({ code: 0, stdout: '', stderr: '' }),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
    assert.notEqual(outcome.code, 0, 'the bin stops');
    assert.equal(outcome.stdout, '', 'nothing on the protocol stream');
    assert.equal(outcome.stderr.match(/The sandbox needs these Debian packages/g)?.length, 1, outcome.stderr);
    assert.match(outcome.stderr, /python3-ipykernel .*bubblewrap/);
    const script = join(installDir, 'node_modules', manifest.name, 'infra/setup-sandbox.sh');
    assert.ok(outcome.stderr.includes(`sudo bash ${script}`), `names the one command: ${outcome.stderr}`);
    assert.ok(performance.now() - started < 10_000, 'says so at once');
  });
});

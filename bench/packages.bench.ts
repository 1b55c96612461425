/**
 * install_packages of a small wheel from a PEP 503 index on loopback (built here with pip), each
 * round into a fresh context (a fresh session workspace, so pip installs rather than finds it),
 * side by side in one run:
 * - the baseline: `pip install --target <fresh dir>` of the same wheel from the same index, run
 *   straight from the shell (no jail, no proxy, no HTTP);
 * - `pip install --user` the same way (what the sandbox runs, PYTHONUSERBASE in a fresh dir);
 * - the sandbox API (POST /contexts/{id}/packages: a jail, the policy proxy, pip, the kernel told);
 * - the MCP tool install_packages (the MCP server on top).
 * Prints p50 and p90 per path and the ratio to the baseline.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { startSandbox } from '../src/sandbox-service/index.ts';
import { startMcp } from '../test/support/mcp-harness.ts';
import { buildWheel, servePipIndex } from '../test/support/package-index.ts';
import { summarize } from './lib/stats.ts';
import { formatMarkdownTable } from './lib/table.ts';

const ROUNDS = Number(process.argv[2] ?? 7);
const run = promisify(execFile);
const work = await mkdtemp(join(tmpdir(), 'fc-bench-packages-'));
const wheels = join(work, 'wheels');
await buildWheel(wheels, { name: 'fc-bench-demo', version: '1.0.0', files: { '__init__.py': 'VALUE = 1\n' } });
const index = await servePipIndex(wheels);
const sandbox = await startSandbox({
  host: '127.0.0.1',
  port: 0,
  poolSize: 1,
  pipIndexUrl: index.url,
  egressAllow: ['127.0.0.1'],
  egressPrivateHosts: ['127.0.0.1'],
});
const mcp = await startMcp({ SANDBOX_URL: sandbox.url });
const client = new Client({ name: 'bench-packages', version: '1.0.0' });
const pipEnv = {
  PATH: '/usr/bin:/bin',
  HOME: work,
  PIP_INDEX_URL: index.url,
  PIP_TRUSTED_HOST: new URL(index.url).host,
  PIP_DISABLE_PIP_VERSION_CHECK: '1',
  PIP_NO_CACHE_DIR: '1',
  PIP_BREAK_SYSTEM_PACKAGES: '1',
};

const timed = async (what: () => Promise<unknown>) => {
  const started = performance.now();
  await what();
  return performance.now() - started;
};

try {
  await client.connect(new StreamableHTTPClientTransport(new URL(mcp.url)));
  const samples: Record<string, number[]> = { target: [], user: [], api: [], mcp: [] };
  for (let round = 0; round < ROUNDS + 1; round++) {
    const keep = round > 0; // the first round warms every path up
    const add = (name: string, ms: number) => keep && samples[name]!.push(ms);
    const dir = join(work, `round-${round}`);
    add(
      'target',
      await timed(() =>
        run('/usr/bin/python3', ['-m', 'pip', 'install', '-q', '--target', join(dir, 't'), 'fc-bench-demo'], { env: pipEnv }),
      ),
    );
    add(
      'user',
      await timed(() =>
        run('/usr/bin/python3', ['-m', 'pip', 'install', '-q', '--user', 'fc-bench-demo'], {
          env: { ...pipEnv, PYTHONUSERBASE: join(dir, 'u') },
        }),
      ),
    );
    const session = { 'x-ci-session-id': `bench-packages-${round}`, 'content-type': 'application/json' };
    const created = await fetch(`${sandbox.url}/contexts`, { method: 'POST', headers: session, body: '{}' });
    const { id } = (await created.json()) as { id: string };
    add(
      'api',
      await timed(async () => {
        const response = await fetch(`${sandbox.url}/contexts/${id}/packages`, {
          method: 'POST',
          headers: session,
          body: JSON.stringify({ packages: ['fc-bench-demo'] }),
        });
        const answer = (await response.json()) as { ok: boolean; output: string };
        if (!answer.ok) throw new Error(answer.output);
      }),
    );
    await fetch(`${sandbox.url}/contexts/${id}`, { method: 'DELETE', headers: session });
    const made = await client.callTool({ name: 'create_context', arguments: {} });
    const contextId = (made.structuredContent as { context_id: string }).context_id;
    add(
      'mcp',
      await timed(async () => {
        const result = await client.callTool({
          name: 'install_packages',
          arguments: { context_id: contextId, packages: ['fc-bench-demo'] },
        });
        if (result.isError) throw new Error(JSON.stringify(result.content));
      }),
    );
    await client.callTool({ name: 'stop_context', arguments: { context_id: contextId } });
  }
  const stat = (name: string) => summarize(samples[name]!);
  const row = (label: string, key: string) => [
    label,
    stat(key).p50.toFixed(0),
    stat(key).p90.toFixed(0),
    key === 'target' ? '—' : `${(stat(key).p50 / stat('target').p50).toFixed(2)}×`,
  ];
  console.log(`one small wheel from a loopback index, fresh target each round; p50/p90 of ${ROUNDS} rounds, ms\n`);
  console.log(
    formatMarkdownTable([
      ['path', 'p50 ms', 'p90 ms', 'vs pip --target'],
      row('pip install --target, from the shell (baseline)', 'target'),
      row('pip install --user (PYTHONUSERBASE), from the shell', 'user'),
      row('sandbox API POST /contexts/{id}/packages (jail, proxy, kernel told)', 'api'),
      row('MCP install_packages', 'mcp'),
    ]),
  );
} finally {
  await client.close().catch(() => {});
  await mcp.stop();
  await sandbox.close();
  await index.close();
  await rm(work, { recursive: true, force: true });
}

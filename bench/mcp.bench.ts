/**
 * Benchmarks of the MCP function (issue 3), each side by side with its baseline in
 * this one run, printed as a table of ratios. Not a test: nothing here fails on speed.
 *
 * (a) trivial run_code through MCP vs the same execute straight through the sandbox client
 * (b) tools/list requests/s vs the MCP SDK's own stateless Express example, same tools
 * (c) process start → first answered initialize, esbuild bundle vs a bare node:http server
 * (d) RSS of the MCP process over 10,000 requests
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createContextIdCodec } from '../src/contexts/context-id.ts';
import { createSandboxClient } from '../src/sandbox/client.ts';
import { freePort } from './lib/processes.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SECRET = 'bench-context-secret-0123456789';
const TOKEN = 'bench-token';
const children = new Set<ChildProcess>();
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

// ---------- helpers ----------

function start(
  command: string[],
  env: Record<string, string>,
  ready: RegExp,
  stream: 'stdout' | 'stderr' = 'stdout',
): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(process.execPath, command, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    const check = () => {
      const match = ready.exec(stream === 'stdout' ? out : err);
      if (match) resolve({ child, match });
    };
    child.stdout!.on('data', (d: Buffer) => ((out += d.toString()), check()));
    child.stderr!.on('data', (d: Buffer) => ((err += d.toString()), check()));
    child.once('exit', (code) => reject(new Error(`${command.join(' ')} exited ${code}: ${err}`)));
  });
}

async function stop(child: ChildProcess) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}


function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const fmt = (n: number, digits = 2) => n.toFixed(digits);

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });
const MCP_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  authorization: `Bearer ${TOKEN}`,
};

/** One POST over a kept-alive socket; resolves with the status when the body has been read. */
function post(port: number, body: string, headers: Record<string, string> = MCP_HEADERS): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/mcp', method: 'POST', agent, headers }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Requests/s of `body` at `concurrency` for `ms`; every answer must be 200. */
async function throughput(port: number, body: string, ms: number, concurrency = 16): Promise<number> {
  let done = 0;
  const until = performance.now() + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const status = await post(port, body);
        if (status !== 200) throw new Error(`HTTP ${status}`);
        done++;
      }
    }),
  );
  return done / (ms / 1000);
}

const rows: string[][] = [];
const row = (...cells: string[]) => rows.push(cells);

// ---------- set-up: the bundle FC runs, a real sandbox, our MCP server from the bundle ----------

// The project's own build (scripts/build.mjs → dist/fc.js, what s.yaml deploys).
const built = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
if (built.status !== 0) throw new Error('npm run build failed');
const bundle = join(ROOT, 'dist/fc.js');

const sandbox = await start(['--import', 'tsx', 'handlers/sandbox.ts'], { SANDBOX_PORT: '0', SANDBOX_POOL_SIZE: '0' }, /listening on (http:\/\/\S+)/);
const sandboxUrl = sandbox.match[1]!;
const mcpPort = await freePort();
const mcp = await start(
  [bundle],
  { FC_CUSTOM_LISTEN_PORT: String(mcpPort), SANDBOX_URL: sandboxUrl, CONTEXT_SECRET: SECRET, MCP_AUTH_TOKEN: TOKEN, LOG_LEVEL: 'info' },
  /"msg":"listening"/,
  'stderr',
);

try {
  // ---------- (a) run_code overhead ----------
  const sandboxClient = createSandboxClient({ baseUrl: sandboxUrl, sessionHeader: 'x-ci-session-id' });
  const context = await sandboxClient.createContext('default', { language: 'python' });
  const contextId = createContextIdCodec(SECRET).encode({ session: 'default', context: context.id });
  const client = new Client({ name: 'bench', version: '1' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${mcpPort}/mcp`), { requestInit: { headers: { authorization: `Bearer ${TOKEN}` } } }),
  );
  await client.listTools();
  const direct: number[] = [];
  const viaMcp: number[] = [];
  const viaRaw: number[] = [];
  const rawRunBody = JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'run_code', arguments: { code: '1', context_id: contextId } } });
  const ROUNDS = 400;
  for (let i = 0; i < ROUNDS + 40; i++) {
    let t = performance.now();
    await sandboxClient.execute('default', { code: '1', context_id: context.id, timeout: 300 });
    const d = performance.now() - t;
    t = performance.now();
    const result = await client.callTool({ name: 'run_code', arguments: { code: '1', context_id: contextId } });
    const m = performance.now() - t;
    if (result.isError) throw new Error(`run_code failed: ${JSON.stringify(result.content)}`);
    t = performance.now();
    await post(mcpPort, rawRunBody);
    const r = performance.now() - t;
    if (i >= 40) {
      direct.push(d);
      viaMcp.push(m);
      viaRaw.push(r);
    }
  }
  await client.close();
  const overhead = percentile(viaMcp, 50) - percentile(direct, 50);
  row(
    '(a) trivial run_code, p50 (p90), official client',
    `${fmt(percentile(viaMcp, 50))} ms (${fmt(percentile(viaMcp, 90))})`,
    `sandbox client direct: ${fmt(percentile(direct, 50))} ms (${fmt(percentile(direct, 90))})`,
    `+${fmt(overhead)} ms (×${fmt(percentile(viaMcp, 50) / percentile(direct, 50))})`,
    '≤ +2 ms',
    overhead <= 2 ? 'yes' : 'NO',
  );

  row(
    "(a') the same over a plain HTTP POST (no client SDK), p50",
    `${fmt(percentile(viaRaw, 50))} ms`,
    `sandbox client direct: ${fmt(percentile(direct, 50))} ms`,
    `+${fmt(percentile(viaRaw, 50) - percentile(direct, 50))} ms`,
    '(informative)',
    '',
  );

  // ---------- (b) tools/list throughput ----------
  const express = await start(['--import', 'tsx', 'bench/servers/sdk-express-stateless.ts'], {}, /listening (\d+)/);
  const expressPort = Number(express.match[1]);
  const listBody = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
  const ours: number[] = [];
  const theirs: number[] = [];
  await throughput(mcpPort, listBody, 1000);
  await throughput(expressPort, listBody, 1000);
  for (let i = 0; i < 3; i++) {
    ours.push(await throughput(mcpPort, listBody, 3000));
    theirs.push(await throughput(expressPort, listBody, 3000));
  }
  await stop(express.child);
  const oursRps = percentile(ours, 50);
  const theirsRps = percentile(theirs, 50);
  row(
    '(b) tools/list, requests/s (16 concurrent)',
    fmt(oursRps, 0),
    `SDK stateless Express example: ${fmt(theirsRps, 0)}`,
    `×${fmt(oursRps / theirsRps)}`,
    '≥ ×2',
    oursRps / theirsRps >= 2 ? 'yes' : 'NO',
  );

  // ---------- (d) RSS over 10,000 requests, a fresh process each, default V8 flags and tighter ones ----------
  for (const flags of [[], ['--max-old-space-size=48', '--max-semi-space-size=2']]) {
    const port = await freePort();
    const server = await start(
      [...flags, bundle],
      { FC_CUSTOM_LISTEN_PORT: String(port), SANDBOX_URL: sandboxUrl, CONTEXT_SECRET: SECRET, MCP_AUTH_TOKEN: TOKEN, LOG_LEVEL: 'info' },
      /"msg":"listening"/,
      'stderr',
    );
    const listBody = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
    const runBody = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'run_code', arguments: { code: '1', context_id: contextId } } });
    const rss: [number, number][] = [[0, await rssMb(server.child.pid!)]];
    let sent = 0;
    while (sent < 10_000) {
      await Promise.all(Array.from({ length: 8 }, (_, k) => post(port, (sent + k) % 20 === 0 ? runBody : listBody)));
      sent += 8;
      if (sent % 2000 === 0) rss.push([sent, await rssMb(server.child.pid!)]);
    }
    await stop(server.child);
    const at2k = rss.find(([n]) => n === 2000)![1];
    const at10k = rss[rss.length - 1]![1];
    row(
      `(d) RSS after 10,000 requests (5% run_code), bundle${flags.length ? `, node ${flags.join(' ')}` : ', default flags'}`,
      `${fmt(at10k, 1)} MB`,
      `at start ${fmt(rss[0]![1], 1)} MB; ${rss.slice(1).map(([n, mb]) => `${n / 1000}k: ${fmt(mb, 0)}`).join(', ')}`,
      `+${fmt(at10k - at2k, 1)} MB from 2k to 10k`,
      '≤ 100 MB, flat',
      at10k <= 100 && at10k - at2k < 10 ? 'yes' : 'NO',
    );
  }
  await sandboxClient.deleteContext('default', context.id);
} finally {
  await stop(mcp.child);
  await stop(sandbox.child);
}

// ---------- (c) start-up, bundled ----------
{
  const init = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } },
  });
  async function startToFirstAnswer(script: string): Promise<number> {
    const port = await freePort();
    const started = performance.now();
    const child = spawn(process.execPath, [script], {
      env: { ...process.env, PORT: String(port), FC_CUSTOM_LISTEN_PORT: String(port), CONTEXT_SECRET: SECRET, MCP_AUTH_TOKEN: TOKEN, SANDBOX_URL: 'http://127.0.0.1:9', LOG_LEVEL: 'warn' },
      stdio: 'ignore',
    });
    children.add(child);
    try {
      for (;;) {
        try {
          const status = await post(port, init);
          if (status === 200) return performance.now() - started;
          throw new Error(`HTTP ${status}`);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ECONNREFUSED') throw error;
          await new Promise((r) => setTimeout(r, 2));
        }
      }
    } finally {
      await stop(child);
      children.delete(child);
    }
  }
  const bare = join(ROOT, 'bench/servers/bare-http.mjs');
  const bundled: number[] = [];
  const baseline: number[] = [];
  for (let i = 0; i < 12; i++) {
    bundled.push(await startToFirstAnswer(bundle));
    baseline.push(await startToFirstAnswer(bare));
  }
  const ratio = percentile(bundled, 50) / percentile(baseline, 50);
  row(
    '(c) start → first initialize answered, p50',
    `${fmt(percentile(bundled, 50), 0)} ms (dist/fc.js)`,
    `bare node:http: ${fmt(percentile(baseline, 50), 0)} ms`,
    `×${fmt(ratio)}`,
    '≤ ×1.6',
    ratio <= 1.6 ? 'yes' : 'NO',
  );
}

// ---------- the table ----------
agent.destroy();
rows.sort((a, b) => a[0]!.localeCompare(b[0]!));
const header = ['benchmark', 'ours', 'baseline (same run)', 'ratio', 'target', 'met'];
console.log(`| ${header.join(' | ')} |`);
console.log(`|${header.map(() => '---').join('|')}|`);
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
const os = await import('node:os');
console.log(
  `\nnode ${process.version}, ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} at the end; ` +
    'run_code: 400 interleaved rounds; tools/list: median of 3 interleaved 3 s runs; start-up: 12 interleaved starts.',
);

/**
 * Benchmarks of the MCP function, each side by side with its baseline in
 * this one run, printed as a table of ratios. Not a test: nothing here fails on speed.
 *
 * (a) trivial run_code through MCP vs the same execute straight through the sandbox client
 * (b) tools/list requests/s vs the SDK v2 reference (createMcpHandler on Hono, same tools),
 *     in both eras (2026-07-28 with _meta and headers; 2025 bare requests)
 * (c) process start → first answered request (initialize; server/discover), esbuild
 *     bundle vs a bare node:http server
 * (d) RSS of the MCP process over 10,000 requests, with the V8 flags s.yaml starts it
 *     with, and what those flags cost in tools/list throughput
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { tenantKey } from '../src/mcp-server/auth/tenant.ts';
import { unnamedTenant } from '../src/mcp-server/auth/static-tokens.ts';
import { createContextIdCodec } from '../src/mcp-server/context-ids/context-id.ts';
import { createSandboxClient } from '../src/mcp-server/sandbox-client/client.ts';
import { parse } from 'yaml';
import { freePort, stopChild } from '../test/support/processes.ts';
import { residentMiB } from './lib/processes.ts';
import { percentile } from './lib/stats.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SECRET = 'bench-context-secret-0123456789';
const TOKEN = 'bench-token';
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

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
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      check();
    });
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      check();
    });
    child.once('exit', (code) => reject(new Error(`${command.join(' ')} exited ${code}: ${err}`)));
  });
}

const fmt = (n: number, digits = 2) => n.toFixed(digits);

/** The V8 flags s.yaml's start command gives node before dist/fc.js (customRuntimeConfig.args). */
async function deployedNodeFlags(): Promise<string[]> {
  const config = parse(await readFile(join(ROOT, 's.yaml'), 'utf8')) as {
    resources: { mcp: { props: { customRuntimeConfig: { args: string[] } } } };
  };
  return config.resources.mcp.props.customRuntimeConfig.args.filter((a) => a.startsWith('--'));
}

const MODERN = '2026-07-28';
const META = { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {} };
/** tools/list as each era sends it: 2025 a bare request; 2026-07-28 with _meta and the routing headers. */
const LIST = {
  legacy: { body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), headers: {} },
  modern: {
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: META } }),
    headers: { 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/list' },
  },
} as const;

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
async function throughput(port: number, body: string, ms: number, concurrency = 16, headers: Record<string, string> = {}): Promise<number> {
  let done = 0;
  const until = performance.now() + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const status = await post(port, body, { ...MCP_HEADERS, ...headers });
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

const sandbox = await start(
  ['--import', 'tsx', 'handlers/sandbox.ts'],
  { SANDBOX_PORT: '0', SANDBOX_POOL_SIZE: '0' },
  /listening on (http:\/\/\S+)/,
  'stderr',
);
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
  // Signed for the caller the bench is: the tenant of its (unnamed) bearer token.
  const contextId = createContextIdCodec(SECRET).encode(
    { session: 'default', sandboxContextId: context.id },
    tenantKey({ id: unnamedTenant(TOKEN), source: 'token' }),
  );
  const clients = {
    modern: new Client({ name: 'bench', version: '1' }, { versionNegotiation: { mode: { pin: MODERN } } }),
    legacy: new Client({ name: 'bench', version: '1' }),
  };
  for (const client of Object.values(clients)) {
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${mcpPort}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${TOKEN}` } },
      }),
    );
    await client.listTools();
  }
  const direct: number[] = [];
  const viaMcp = { modern: [] as number[], legacy: [] as number[] };
  const viaRaw: number[] = [];
  const rawRunBody = JSON.stringify({
    jsonrpc: '2.0',
    id: 3,
    method: 'tools/call',
    params: { name: 'run_code', arguments: { code: '1', context_id: contextId } },
  });
  const ROUNDS = 400;
  for (let i = 0; i < ROUNDS + 40; i++) {
    let t = performance.now();
    await sandboxClient.execute('default', { code: '1', context_id: context.id, timeout: 300 });
    const d = performance.now() - t;
    const m: Record<string, number> = {};
    for (const [era, client] of Object.entries(clients)) {
      t = performance.now();
      const result = await client.callTool({ name: 'run_code', arguments: { code: '1', context_id: contextId } });
      m[era] = performance.now() - t;
      if (result.isError) throw new Error(`run_code failed: ${JSON.stringify(result.content)}`);
    }
    t = performance.now();
    await post(mcpPort, rawRunBody);
    const r = performance.now() - t;
    if (i >= 40) {
      direct.push(d);
      viaMcp.modern.push(m.modern!);
      viaMcp.legacy.push(m.legacy!);
      viaRaw.push(r);
    }
  }
  for (const client of Object.values(clients)) await client.close();
  for (const era of ['modern', 'legacy'] as const) {
    const overhead = percentile(viaMcp[era], 0.5) - percentile(direct, 0.5);
    row(
      `(a) trivial run_code, p50 (p90), official v2 client, ${era === 'modern' ? '2026-07-28' : '2025-11-25'}`,
      `${fmt(percentile(viaMcp[era], 0.5))} ms (${fmt(percentile(viaMcp[era], 0.9))})`,
      `sandbox client direct: ${fmt(percentile(direct, 0.5))} ms (${fmt(percentile(direct, 0.9))})`,
      `+${fmt(overhead)} ms (×${fmt(percentile(viaMcp[era], 0.5) / percentile(direct, 0.5))})`,
      '≤ +2 ms',
      overhead <= 2 ? 'yes' : 'NO',
    );
  }

  row(
    "(a') the same over a plain HTTP POST (no client SDK, 2025), p50",
    `${fmt(percentile(viaRaw, 0.5))} ms`,
    `sandbox client direct: ${fmt(percentile(direct, 0.5))} ms`,
    `+${fmt(percentile(viaRaw, 0.5) - percentile(direct, 0.5))} ms`,
    '(informative)',
    '',
  );

  // ---------- (b) tools/list throughput, both eras, against the SDK v2 reference ----------
  const reference = await start(['--import', 'tsx', 'bench/servers/sdk-v2-hono.ts'], {}, /listening (\d+)/);
  const referencePort = Number(reference.match[1]);
  for (const era of ['modern', 'legacy'] as const) {
    const { body, headers } = LIST[era];
    const ours: number[] = [];
    const theirs: number[] = [];
    await throughput(mcpPort, body, 1000, 16, headers);
    await throughput(referencePort, body, 1000, 16, headers);
    for (let i = 0; i < 3; i++) {
      ours.push(await throughput(mcpPort, body, 3000, 16, headers));
      theirs.push(await throughput(referencePort, body, 3000, 16, headers));
    }
    const oursRps = percentile(ours, 0.5);
    const theirsRps = percentile(theirs, 0.5);
    row(
      `(b) tools/list, requests/s (16 concurrent), ${era === 'modern' ? '2026-07-28' : '2025 (no initialize)'}`,
      fmt(oursRps, 0),
      `SDK v2 createMcpHandler on Hono: ${fmt(theirsRps, 0)}`,
      `×${fmt(oursRps / theirsRps)}`,
      '≥ ×3',
      oursRps / theirsRps >= 3 ? 'yes' : 'NO',
    );
  }
  await stopChild(reference.child);

  /** dist/fc.js with these node flags on a free port, answering run_code from the bench's sandbox. */
  const startBundle = async (flags: string[]) => {
    const port = await freePort();
    const env = {
      FC_CUSTOM_LISTEN_PORT: String(port),
      SANDBOX_URL: sandboxUrl,
      CONTEXT_SECRET: SECRET,
      MCP_AUTH_TOKEN: TOKEN,
      LOG_LEVEL: 'info',
    };
    const { child } = await start([...flags, bundle], env, /"msg":"listening"/, 'stderr');
    return { port, child };
  };

  // ---------- (d) RSS over 10,000 requests, a fresh process each: s.yaml's V8 flags and node's defaults ----------
  const deployed = await deployedNodeFlags();
  for (const flags of [deployed, []]) {
    const label = flags.length ? `s.yaml's flags: ${flags.join(' ')}` : 'default flags';
    const { port, child: server } = await startBundle(flags);
    const runBody = JSON.stringify({
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { name: 'run_code', arguments: { code: '1', context_id: contextId } },
    });
    const rss: [number, number][] = [[0, await residentMiB(server.pid!)]];
    let sent = 0;
    while (sent < 10_000) {
      // Both eras, 5% run_code: what a busy instance sees.
      await Promise.all(
        Array.from({ length: 8 }, (_, k) => {
          const n = sent + k;
          if (n % 20 === 0) return post(port, runBody);
          const { body, headers } = LIST[n % 2 === 0 ? 'modern' : 'legacy'];
          return post(port, body, { ...MCP_HEADERS, ...headers });
        }),
      );
      sent += 8;
      if (sent % 2000 === 0) rss.push([sent, await residentMiB(server.pid!)]);
    }
    await stopChild(server);
    const at2k = rss.find(([n]) => n === 2000)![1];
    const at10k = rss[rss.length - 1]![1];
    row(
      `(d) RSS after 10,000 requests (both eras, 5% run_code), bundle, ${label}`,
      `${fmt(at10k, 1)} MB`,
      `at start ${fmt(rss[0]![1], 1)} MB; ${rss
        .slice(1)
        .map(([n, mb]) => `${n / 1000}k: ${fmt(mb, 0)}`)
        .join(', ')}`,
      `+${fmt(at10k - at2k, 1)} MB from 2k to 10k`,
      flags.length ? '≤ 100 MB, flat' : '(for comparison)',
      flags.length ? (at10k <= 100 && at10k - at2k < 10 ? 'yes' : 'NO') : '',
    );
  }
  // What the flags cost: tools/list throughput of two fresh processes, one with them and
  // one without, measured in turns (median of 3) so load from elsewhere falls on both.
  const pair = await Promise.all(
    [deployed, []].map(async (flags) => {
      const { port, child } = await startBundle(flags);
      return { port, child, rps: [] as number[] };
    }),
  );
  for (const p of pair) await throughput(p.port, LIST.modern.body, 1000, 16, LIST.modern.headers);
  for (let i = 0; i < 3; i++) for (const p of pair) p.rps.push(await throughput(p.port, LIST.modern.body, 3000, 16, LIST.modern.headers));
  for (const p of pair) await stopChild(p.child);
  const [withFlags, withoutFlags] = pair.map((p) => percentile(p.rps, 0.5)) as [number, number];
  row(
    "(d') what s.yaml's V8 flags cost: tools/list requests/s (2026-07-28), fresh processes in turns",
    fmt(withFlags, 0),
    `default flags: ${fmt(withoutFlags, 0)}`,
    `×${fmt(withFlags / withoutFlags)}`,
    '(informative)',
    '',
  );
  await sandboxClient.deleteContext('default', context.id);
} finally {
  await stopChild(mcp.child);
  await stopChild(sandbox.child);
}

// ---------- (c) start-up, bundled ----------
{
  const firsts = {
    initialize: {
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } },
      }),
      headers: {},
    },
    'server/discover': {
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: META } }),
      headers: { 'mcp-protocol-version': MODERN, 'mcp-method': 'server/discover' },
    },
  };
  async function startToFirstAnswer(
    script: string,
    flags: string[],
    first: { body: string; headers: Record<string, string> },
  ): Promise<number> {
    const port = await freePort();
    const started = performance.now();
    const child = spawn(process.execPath, [...flags, script], {
      env: {
        ...process.env,
        PORT: String(port),
        FC_CUSTOM_LISTEN_PORT: String(port),
        CONTEXT_SECRET: SECRET,
        MCP_AUTH_TOKEN: TOKEN,
        SANDBOX_URL: 'http://127.0.0.1:9',
        LOG_LEVEL: 'warn',
      },
      stdio: 'ignore',
    });
    children.add(child);
    try {
      for (;;) {
        try {
          const status = await post(port, first.body, { ...MCP_HEADERS, ...first.headers });
          if (status === 200) return performance.now() - started;
          throw new Error(`HTTP ${status}`);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ECONNREFUSED') throw error;
          await new Promise((r) => setTimeout(r, 2));
        }
      }
    } finally {
      await stopChild(child);
      children.delete(child);
    }
  }
  const bare = join(ROOT, 'bench/servers/bare-http.mjs');
  const flags = await deployedNodeFlags();
  for (const [name, first] of Object.entries(firsts)) {
    const bundled: number[] = [];
    const baseline: number[] = [];
    for (let i = 0; i < 12; i++) {
      bundled.push(await startToFirstAnswer(bundle, flags, first));
      baseline.push(await startToFirstAnswer(bare, [], first));
    }
    const ratio = percentile(bundled, 0.5) / percentile(baseline, 0.5);
    row(
      `(c) start → first ${name} answered, p50`,
      `${fmt(percentile(bundled, 0.5), 0)} ms (dist/fc.js${flags.length ? `, ${flags.join(' ')}` : ''})`,
      `bare node:http: ${fmt(percentile(baseline, 0.5), 0)} ms`,
      `×${fmt(ratio)}`,
      '≤ ×1.6',
      ratio <= 1.6 ? 'yes' : 'NO',
    );
  }
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
  `\nnode ${process.version}, ${os.cpus().length} CPUs, load average ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} at the end; ` +
    'run_code: 400 interleaved rounds; tools/list: median of 3 interleaved 3 s runs per era; start-up: 12 interleaved starts per first request.',
);

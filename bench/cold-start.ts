/**
 * Cold start of the FC bundle against a bare node:http server, in one run, side by side.
 *
 *   npm run build && npx tsx bench/cold-start.ts [runs=15]
 *
 * Each run spawns a fresh process the way FC does (test/support/fc-bundle.ts: s.yaml's command and
 * V8 flags, cwd a code folder holding what a deploy uploads, FC's variables, a bare PATH) and measures from spawn to the first answered request:
 * for the bundle a JSON-RPC `initialize` on POST /mcp, for the baseline a GET on a
 * `node:http` server that does nothing else. Runs alternate, so both see the same
 * machine. Also prints the bundle's size and the bundle's resident memory after start
 * and after a burst of concurrent requests (what memorySize in s.yaml is sized from).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { codeFolder, type CustomRuntimeConfig, fcVariables, spawnFcProcess } from '../test/support/fc-bundle.ts';
import { renderServerlessYaml } from '../test/support/fc-render-yaml.ts';
import { freePort, stopChild } from '../test/support/processes.ts';
import { residentMiB } from './lib/processes.ts';
import { percentile } from './lib/stats.ts';

const ROOT = join(import.meta.dirname, '..');
const RUNS = Number(process.argv[2] ?? 15);
const TOKEN = 'bench-token';
const BURST = 50;

const BASELINE = `
import { createServer } from 'node:http';
createServer((req, res) => res.end('ok')).listen(Number(process.env.FC_CUSTOM_LISTEN_PORT), '0.0.0.0');
`;

const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } },
});

function fcEnv(port: number): Record<string, string> {
  return {
    ...fcVariables({
      port,
      functionName: 'code-interpreter-mcp',
      region: 'cn-hangzhou',
      accountId: '1234567890123456',
      instanceId: 'c-bench',
    }),
    NODE_ENV: 'production',
    MCP_TRANSPORT: 'http',
    MCP_AUTH_TOKEN: TOKEN,
    CONTEXT_SECRET: 'bench-context-secret-0123456789',
    // Never contacted: initialize and tools/list do not reach the sandbox.
    SANDBOX_URL: 'http://127.0.0.1:9',
    LOG_LEVEL: 'warn',
  };
}

async function sendInitialize(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${TOKEN}` },
      body: INITIALIZE,
    });
    const text = await response.text();
    return response.ok && text.includes('"serverInfo"');
  } catch {
    return false;
  }
}

async function sendGet(url: string): Promise<boolean> {
  try {
    const response = await fetch(url);
    await response.text();
    return response.ok;
  } catch {
    return false;
  }
}

/** Spawns, then asks until the first answer; ms from spawn to that answer. */
async function coldStart(
  runtime: CustomRuntimeConfig,
  cwd: string,
  ask: (port: number) => Promise<boolean>,
): Promise<{ ms: number; child: ChildProcess; port: number }> {
  const port = await freePort();
  const started = performance.now();
  const child = spawnFcProcess(cwd, runtime, fcEnv(port), ['ignore', 'ignore', 'pipe']);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  for (;;) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}: ${stderr}`);
    if (await ask(port)) return { ms: performance.now() - started, child, port };
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** fc.js and the chunks it imports statically (what loads at start), and everything with the lazy chunks. */
async function sizes(dir: string): Promise<{ startKiB: number; startGzKiB: number; allKiB: number }> {
  const files = (await readdir(dir, { recursive: true })).map(String).filter((f) => f.endsWith('.js') && f !== 'stdio.js');
  let all = 0;
  for (const f of files) all += (await stat(join(dir, f))).size;
  const atStart = new Set<string>();
  const visit = async (file: string): Promise<void> => {
    if (atStart.has(file)) return;
    atStart.add(file);
    const text = await readFile(join(dir, file), 'utf8');
    // Static imports only: `from"./x.js"` / `import"./x.js"`, not `import("./x.js")`.
    for (const m of text.matchAll(/(?:from|import)\s*["']\.\/([^"']+\.js)["']/g)) {
      await visit(join(file, '..', m[1]!));
    }
  };
  await visit('fc.js');
  const start = Buffer.concat(await Promise.all([...atStart].map((f) => readFile(join(dir, f)))));
  return { startKiB: start.length / 1024, startGzKiB: gzipSync(start).length / 1024, allKiB: all / 1024 };
}

async function main() {
  // s.yaml's command and V8 flags for the bundle; the baseline runs on the same node, flagless.
  // s.yaml requires SANDBOX_API_TOKEN (the sandbox function's token) to render; never used here.
  const rendered = await renderServerlessYaml(ROOT, {
    CONTEXT_SECRET: 'bench-context-secret-0123456789',
    MCP_AUTH_TOKEN: TOKEN,
    SANDBOX_API_TOKEN: 'bench-sandbox-token-not-used',
  });
  const bundleRuntime = rendered.resources.mcp!.props.customRuntimeConfig as CustomRuntimeConfig;
  const baselineRuntime: CustomRuntimeConfig = { command: bundleRuntime.command, args: ['server.mjs'] };
  const codeDir = await codeFolder({ build: false });
  const baseDir = await mkdtemp(join(tmpdir(), 'fc-bench-base-'));
  try {
    await writeFile(join(baseDir, 'server.mjs'), BASELINE);
    const size = await sizes(join(codeDir, 'dist'));

    const bundle: number[] = [];
    const baseline: number[] = [];
    // One warm-up of each, not counted: the first spawn pays for the file cache.
    for (let i = -1; i < RUNS; i++) {
      const b = await coldStart(bundleRuntime, codeDir, (port) => sendInitialize(`http://127.0.0.1:${port}/mcp`));
      await stopChild(b.child);
      const n = await coldStart(baselineRuntime, baseDir, (port) => sendGet(`http://127.0.0.1:${port}/`));
      await stopChild(n.child);
      if (i >= 0) {
        bundle.push(b.ms);
        baseline.push(n.ms);
      }
    }

    // Memory: after start, and after a burst of concurrent initialize + tools/list.
    const m = await coldStart(bundleRuntime, codeDir, (port) => sendInitialize(`http://127.0.0.1:${port}/mcp`));
    const afterStart = await residentMiB(m.child.pid!);
    const url = `http://127.0.0.1:${m.port}/mcp`;
    const list = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} });
    let peak = afterStart;
    for (let round = 0; round < 5; round++) {
      await Promise.all(
        Array.from({ length: BURST }, async () => {
          await sendInitialize(url);
          const r = await fetch(url, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              accept: 'application/json, text/event-stream',
              authorization: `Bearer ${TOKEN}`,
              'mcp-protocol-version': '2025-06-18',
            },
            body: list,
          });
          await r.text();
        }),
      );
      peak = Math.max(peak, await residentMiB(m.child.pid!));
    }
    await stopChild(m.child);

    const row = (name: string, v: number[]) =>
      `| ${name} | ${percentile(v, 0.5).toFixed(1)} | ${percentile(v, 0.9).toFixed(1)} | ${Math.min(...v).toFixed(1)} | ${(percentile(v, 0.5) / percentile(baseline, 0.5)).toFixed(2)}× |`;
    console.log(
      `Cold start, spawn → first answered request, ${RUNS} runs each, alternating (node ${process.version}, ${process.platform})\n`,
    );
    console.log('| process | p50 ms | p90 ms | min ms | p50 vs baseline |');
    console.log('|---|---|---|---|---|');
    console.log(row('baseline: bare node:http server, GET /', baseline));
    console.log(row('dist/fc.js, POST /mcp initialize', bundle));
    console.log(`\n| bundle | size |\n|---|---|`);
    console.log(
      `| dist/fc.js and its static chunks (loaded at start) | ${size.startKiB.toFixed(0)} KiB (${size.startGzKiB.toFixed(0)} KiB gzip) |`,
    );
    console.log(`| dist/fc.js + lazy chunks (FC SDK) | ${size.allKiB.toFixed(0)} KiB |`);
    console.log(`\n| bundle memory | RSS MiB |\n|---|---|`);
    console.log(`| after start + initialize | ${afterStart.toFixed(0)} |`);
    console.log(`| peak over 5 bursts of ${BURST} concurrent initialize + tools/list | ${peak.toFixed(0)} |`);
  } finally {
    await rm(codeDir, { recursive: true, force: true });
    await rm(baseDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

/**
 * What OpenTelemetry costs a call: a trivial run_code over a plain HTTP POST to the
 * FC bundle (dist/fc.js), with export off (no OTLP endpoint: nothing loaded) against export on
 * (spans and metrics to a loopback OTLP sink, each answer's spans flushed before it ends, as on
 * FC), and on with every trace sampled out. Each MCP server has a sandbox of its own, traced
 * when its MCP server is. The paths take turns (sampleInTurns), so load from elsewhere lands on
 * all alike. Not a test: nothing here fails on speed. Target: ≤ +0.5 ms p50 with export on.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Agent, createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tenantKey } from '../src/mcp-server/auth/tenant.ts';
import { unnamedTenant } from '../src/mcp-server/auth/static-tokens.ts';
import { createContextIdCodec } from '../src/mcp-server/context-ids/context-id.ts';
import { createSandboxClient } from '../src/mcp-server/sandbox-client/client.ts';
import { freePort } from '../test/support/processes.ts';
import { sampleInTurns } from './lib/sample.ts';
import { percentile } from './lib/stats.ts';
import { formatMarkdownTable } from './lib/table.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SECRET = 'bench-context-secret-0123456789';
const TOKEN = 'bench-token';
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

function start(command: string[], env: Record<string, string>, ready: RegExp, stream: 'stdout' | 'stderr'): Promise<RegExpExecArray> {
  const child = spawn(process.execPath, command, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let text = { stdout: '', stderr: '' };
  return new Promise((resolve, reject) => {
    for (const name of ['stdout', 'stderr'] as const) {
      child[name]!.on('data', (d: Buffer) => {
        text = { ...text, [name]: text[name] + d.toString() };
        const match = ready.exec(text[stream]);
        if (match) resolve(match);
      });
    }
    child.once('exit', (code) => reject(new Error(`${command.join(' ')} exited ${code}: ${text.stderr}`)));
  });
}

// An OTLP sink: takes every export and answers at once, as a nearby collector would.
const sink = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
});
sink.listen(0, '127.0.0.1');
await once(sink, 'listening');
const endpoint = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;

const built = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
if (built.status !== 0) throw new Error('npm run build failed');
const bundle = join(ROOT, 'dist/fc.js');

const agent = new Agent({ keepAlive: true, maxSockets: 8 });
function post(port: number, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${TOKEN}` };
    const req = httpRequest({ host: '127.0.0.1', port, path: '/mcp', method: 'POST', agent, headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`HTTP ${res.statusCode}: ${text}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A sandbox and the FC bundle on it, with `otel` added to both environments; a context and a trivial run_code body for it. */
async function setUp(otel: Record<string, string>) {
  const [, sandboxUrl] = await start(
    ['--import', 'tsx', 'handlers/sandbox.ts'],
    { SANDBOX_PORT: '0', SANDBOX_POOL_SIZE: '0', ...otel },
    /listening on (http:\/\/\S+)/,
    'stderr',
  );
  const port = await freePort();
  await start(
    [bundle],
    {
      FC_CUSTOM_LISTEN_PORT: String(port),
      SANDBOX_URL: sandboxUrl!,
      CONTEXT_SECRET: SECRET,
      MCP_AUTH_TOKEN: TOKEN,
      LOG_LEVEL: 'info',
      ...otel,
    },
    /"msg":"listening"/,
    'stderr',
  );
  const context = await createSandboxClient({ baseUrl: sandboxUrl!, sessionHeader: 'x-ci-session-id' }).createContext('default', {
    language: 'python',
  });
  const contextId = createContextIdCodec(SECRET).encode(
    { session: 'default', sandboxContextId: context.id },
    tenantKey({ id: unnamedTenant(TOKEN), source: 'token' }),
  );
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 3,
    method: 'tools/call',
    params: { name: 'run_code', arguments: { code: '1', context_id: contextId } },
  });
  return async () => {
    const answer = await post(port, body);
    if (answer.includes('"isError":true')) throw new Error(`run_code failed: ${answer}`);
  };
}

const on = { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_METRIC_EXPORT_INTERVAL: '10000' };
const paths = {
  off: await setUp({}),
  on: await setUp(on),
  sampledOut: await setUp({ ...on, OTEL_TRACES_SAMPLER: 'always_off' }),
};
const times = await sampleInTurns(paths, { warmup: 40, count: 400, rounds: 8, timeoutMs: 30_000 });
const p = (name: keyof typeof paths, q = 0.5) => percentile(times[name], q);
const fmt = (n: number) => n.toFixed(2);
const rows = [
  ['benchmark', 'export on', 'export off (same run)', 'difference', 'target', 'met'],
  [
    'trivial run_code, plain POST to dist/fc.js, p50 (p90); spans flushed before each answer',
    `${fmt(p('on'))} ms (${fmt(p('on', 0.9))})`,
    `${fmt(p('off'))} ms (${fmt(p('off', 0.9))})`,
    `${p('on') >= p('off') ? '+' : ''}${fmt(p('on') - p('off'))} ms`,
    '≤ +0.5 ms',
    p('on') - p('off') <= 0.5 ? 'yes' : 'NO',
  ],
  [
    'the same, OTEL_TRACES_SAMPLER=always_off, p50 (p90)',
    `${fmt(p('sampledOut'))} ms (${fmt(p('sampledOut', 0.9))})`,
    `${fmt(p('off'))} ms (${fmt(p('off', 0.9))})`,
    `${p('sampledOut') >= p('off') ? '+' : ''}${fmt(p('sampledOut') - p('off'))} ms`,
    '(informative)',
    '',
  ],
];
console.log(formatMarkdownTable(rows));
sink.close();
process.exit(0);

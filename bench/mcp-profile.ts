/**
 * Where the MCP function's CPU goes, per request (bench/README.md, "Where the MCP function's time
 * goes"). Starts the sandbox service and handlers/fc.ts under tsx with --cpu-prof (names kept),
 * sends trivial run_code calls (plain POSTs, both eras in turns) or tools/list requests (16 at a
 * time, both eras), stops the server, and prints its CPU per request by the innermost JS that owns
 * each sample (Node's own frames count for the code that called them; start-up left out).
 *
 *   npx tsx bench/mcp-profile.ts run|list [requests]
 *
 * Not a comparison: run it on the code before and after a change, at the same load.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tenantKey } from '../src/mcp-server/auth/tenant.ts';
import { unnamedTenant } from '../src/mcp-server/auth/static-tokens.ts';
import { createContextIdCodec } from '../src/mcp-server/context-ids/context-id.ts';
import { createSandboxClient } from '../src/mcp-server/sandbox-client/client.ts';
import { freePort, stopChild } from '../test/support/processes.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SECRET = 'bench-context-secret-0123456789';
const TOKEN = 'bench-token';
const mode = process.argv[2] === 'list' ? 'list' : 'run';
const count = Number(process.argv[3] ?? (mode === 'list' ? 6400 : 600));

/** A process started with `args`, once `ready` shows on its stderr (read only until then). */
function start(args: string[], env: Record<string, string>, ready: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      err += d.toString();
      const match = ready.exec(err);
      if (!match) return;
      // From here on the pipe is drained unread, so the server's log writes never wait on us.
      child.stderr!.off('data', onData).resume();
      resolve({ child, match });
    };
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}: ${err}`)));
  });
}

const profiles = await mkdtemp(join(tmpdir(), 'mcp-profile-'));
const sandbox = await start(
  ['--import', 'tsx', 'handlers/sandbox.ts'],
  { SANDBOX_PORT: '0', SANDBOX_POOL_SIZE: '0' },
  /listening on (http:\/\/\S+)/,
);
const sandboxUrl = sandbox.match[1]!;
const port = await freePort();
const mcp = await start(
  ['--cpu-prof', `--cpu-prof-dir=${profiles}`, '--cpu-prof-interval=200', '--import', 'tsx', 'handlers/fc.ts'],
  { FC_CUSTOM_LISTEN_PORT: String(port), SANDBOX_URL: sandboxUrl, CONTEXT_SECRET: SECRET, MCP_AUTH_TOKEN: TOKEN, LOG_LEVEL: 'info' },
  /"msg":"listening"/,
);
const agent = new Agent({ keepAlive: true, maxSockets: 64 });
const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${TOKEN}` };
const post = (body: string, headers: Record<string, string>) =>
  new Promise<number>((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path: '/mcp', method: 'POST', agent, headers: { ...HEADERS, ...headers } },
      (res) => {
        res.resume().on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
const modern = (method: string, name?: string) => ({
  'mcp-protocol-version': '2026-07-28',
  'mcp-method': method,
  ...(name ? { 'mcp-name': name } : {}),
});

try {
  if (mode === 'run') {
    const sandboxClient = createSandboxClient({ baseUrl: sandboxUrl, sessionHeader: 'x-ci-session-id' });
    const context = await sandboxClient.createContext('default', { language: 'python' });
    const contextId = createContextIdCodec(SECRET).encode(
      { session: 'default', sandboxContextId: context.id },
      tenantKey({ id: unnamedTenant(TOKEN), source: 'token' }),
    );
    const call = (meta?: object) =>
      JSON.stringify({
        jsonrpc: '2.0',
        id: 3,
        method: 'tools/call',
        params: { name: 'run_code', arguments: { code: '1', context_id: contextId }, ...meta },
      });
    for (let i = 0; i < count; i++) {
      const status = i % 2 ? await post(call(), {}) : await post(call({ _meta: META }), modern('tools/call', 'run_code'));
      if (status !== 200) throw new Error(`run_code: HTTP ${status}`);
    }
  } else {
    const legacy = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
    const modernList = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: META } });
    await Promise.all(
      Array.from({ length: 16 }, async (_, k) => {
        for (let i = 0; i < count / 16; i++) {
          const status = k % 2 ? await post(legacy, {}) : await post(modernList, modern('tools/list'));
          if (status !== 200) throw new Error(`tools/list: HTTP ${status}`);
        }
      }),
    );
  }
} finally {
  await stopChild(mcp.child);
  await stopChild(sandbox.child);
  agent.destroy();
}

// The main thread's profile is the largest (tsx's loader thread writes one too).
const files = await readdir(profiles);
const sizes = await Promise.all(files.map(async (f) => (await stat(join(profiles, f))).size));
const main = files[sizes.indexOf(Math.max(...sizes))]!;
const profile = JSON.parse(await readFile(join(profiles, main), 'utf8')) as {
  nodes: { id: number; callFrame: { functionName: string; url: string }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
};
await rm(profiles, { recursive: true, force: true });

const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parents = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parents.set(c, n.id);
const stackOf = (id: number) => {
  const stack = [];
  for (let at: number | undefined = id; at !== undefined; at = parents.get(at)) stack.push(nodes.get(at)!);
  return stack;
};
/** Who owns a frame: our file, an npm package, undici, or nobody (Node's own JS). */
const ownerOf = (url: string): string | undefined => {
  const path = url.replace(/^file:\/\//, '');
  if (path.includes('deps/undici')) return 'undici (fetch, Request/Response)';
  if (!path || path.startsWith('node:')) return undefined;
  const pkg = path.split('node_modules/')[1];
  if (pkg)
    return `npm ${pkg
      .split('/')
      .slice(0, pkg.startsWith('@') ? 2 : 1)
      .join('/')}`;
  return path.startsWith(ROOT) ? path.slice(ROOT.length) : path;
};
const isStartUp = (frame: { functionName: string; url: string }) =>
  /internal\/(modules|main|bootstrap)\//.test(frame.url) || frame.functionName === 'compileForInternalLoader';

const owned = new Map<string, number>();
let busy = 0;
profile.samples.forEach((id, i) => {
  const stack = stackOf(id);
  const leaf = stack[0]!.callFrame.functionName;
  if (leaf === '(idle)' || leaf === '(program)' || stack.some((n) => isStartUp(n.callFrame))) return;
  const us = profile.timeDeltas[i] ?? 0;
  busy += us;
  const owner =
    stack.map((n) => ownerOf(n.callFrame.url)).find(Boolean) ?? (leaf === '(garbage collector)' ? 'GC' : 'Node internals (no JS owner)');
  owned.set(owner, (owned.get(owner) ?? 0) + us);
});
const perRequest = (us: number) => (us / 1000 / count).toFixed(3);
console.log(`${mode === 'run' ? 'trivial run_code' : 'tools/list'} ×${count}: ${perRequest(busy)} ms CPU per request`);
for (const [owner, us] of [...owned].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
  console.log(`${perRequest(us).padStart(8)} ms  ${((100 * us) / busy).toFixed(0).padStart(3)} %  ${owner}`);
}

/**
 * Shared by the MCP end-to-end tests: real processes (the MCP server under tsx,
 * the sandbox service), the official MCP client, and clean-up of everything started.
 * Not a test file itself (no .test.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client, StreamableHTTPClientTransport, type CallToolResult } from '@modelcontextprotocol/client';
import { startSandbox, type RunningSandbox } from '../../src/sandbox-service/index.ts';
import { stopChild } from './processes.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const SECRET = 'test-context-secret-0123456789';

/** One real sandbox service on a free loopback port, no pre-started kernels. */
export async function startTestSandbox(options: Record<string, unknown> = {}): Promise<RunningSandbox> {
  return startSandbox({ host: '127.0.0.1', port: 0, poolSize: 0, ...options });
}

/** A test file's sandbox and the MCP server processes it starts on it. */
export interface McpOnSandbox {
  /** The sandbox, once the first start() has brought it up. */
  readonly sandbox: RunningSandbox;
  /** Starts handlers/local.ts on the sandbox (env added to SANDBOX_URL); stopped with the rest after the file. */
  start(env?: Record<string, string>): Promise<McpProcess>;
}

/**
 * For a test file: one real sandbox service, started with the first MCP server, and
 * the MCP servers started on it; after the file's tests, the servers and then the
 * sandbox are stopped. (Node 20 starts a file's root-level before hooks without waiting
 * for the earlier ones, so nothing here relies on the order of hooks.)
 */
export function mcpOnSandbox(): McpOnSandbox {
  let starting: Promise<RunningSandbox> | undefined;
  let sandbox: RunningSandbox | undefined;
  const processes: McpProcess[] = [];
  after(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await (await starting)?.close();
  });
  return {
    get sandbox() {
      if (!sandbox) throw new Error('no MCP server started yet');
      return sandbox;
    },
    async start(env = {}) {
      starting ??= startTestSandbox();
      sandbox = await starting;
      const mcp = await startMcp({ SANDBOX_URL: sandbox.url, ...env });
      processes.push(mcp);
      return mcp;
    },
  };
}

export interface McpProcess {
  /** http://127.0.0.1:port/mcp */
  url: string;
  origin: string;
  /** The server process's pid (for its /proc figures: open fds, resident memory). */
  pid: number;
  stdout(): string;
  stderr(): string;
  /** JSON log lines from stderr. */
  logs(): Record<string, unknown>[];
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Env for a child: the machine's basics, none of our variables from the test's own environment. */
function childEnv(env: Record<string, string>): Record<string, string> {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(MCP_|SANDBOX_|CONTEXT_SECRET|LOG_LEVEL|FC_)/.test(k)) base[k] = v;
  }
  return { ...base, ...env };
}

export function spawnHandler(handler: string, env: Record<string, string>, args: string[] = []): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', `handlers/${handler}`, ...args], {
    cwd: ROOT,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** Starts handlers/local.ts on a free loopback port and waits for its "listening" line. */
export async function startMcp(env: Record<string, string>, handler = 'local.ts'): Promise<McpProcess> {
  const child = spawnHandler(handler, { MCP_PORT: '0', CONTEXT_SECRET: SECRET, LOG_LEVEL: 'info', ...env });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const match = /MCP server listening on (\S+)/.exec(out);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`MCP server exited with ${code} before listening:\n${err}`)));
  });
  return {
    url,
    origin: new URL(url).origin,
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    logs: () =>
      err
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    stop: () => stopChild(child),
  };
}

/** Runs a handler to its end (for start-up failures): exit code and output. */
export async function runToExit(handler: string, env: Record<string, string>, args: string[] = []) {
  const child = spawnHandler(handler, env, args);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout: out, stderr: err };
}

/** The tools the server offers, sorted by name, as tools/list must list them. */
export const TOOL_NAMES = [
  'cancel_run',
  'create_context',
  'health_check',
  'install_packages',
  'list_contexts',
  'list_files',
  'read_file',
  'result_page',
  'run_code',
  'set_network',
  'stop_context',
  'wait_run',
  'write_file',
] as const;

/** The two protocol eras a client may speak: 2026-07-28 (`modern`) or 2025-11-25 with initialize (`legacy`). */
export type Era = 'modern' | 'legacy';
export const ERAS: readonly Era[] = ['modern', 'legacy'];
export const MODERN_VERSION = '2026-07-28';

/** The official v2 client; `modern` pins 2026-07-28 (server/discover), `legacy` is its plain 2025 initialize. */
export function newClient(era: Era = 'modern'): Client {
  return new Client(
    { name: 'mcp-e2e-test', version: '1.0.0' },
    { versionNegotiation: { mode: era === 'modern' ? { pin: MODERN_VERSION } : 'legacy' } },
  );
}

export async function connect(url: string, headers: Record<string, string> = {}, era: Era = 'modern'): Promise<Client> {
  const client = newClient(era);
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  const negotiated = client.getNegotiatedProtocolVersion();
  if ((era === 'modern') !== (negotiated === MODERN_VERSION)) throw new Error(`asked for the ${era} era, negotiated ${negotiated}`);
  return client;
}

/** A client in each protocol era; each has listed the tools, so it checks every structuredContent against the output schemas. */
export async function connectEachEra(url: string): Promise<Map<Era, Client>> {
  const clients = new Map<Era, Client>();
  for (const era of ERAS) {
    const client = await connect(url, {}, era);
    await client.listTools();
    clients.set(era, client);
  }
  return clients;
}

/** tools/call with the output-schema check the client does after tools/list. */
export async function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

export function textOf(result: CallToolResult): string {
  return result.content
    .filter((c): c is { type: 'text'; text: string } => c.type === 'text')
    .map((c) => c.text)
    .join('\n');
}

export function structured<T = Record<string, unknown>>(result: CallToolResult): T {
  if (!result.structuredContent) throw new Error(`no structuredContent: ${textOf(result)}`);
  return result.structuredContent as T;
}

/** A raw POST to the MCP endpoint, for what the official client will not send. */
export async function rawPost(url: string, body: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body,
  });
}

/** Reads the single JSON-RPC message out of an SSE or JSON response. */
export async function rpcBody(response: Response): Promise<Record<string, unknown>> {
  const text = await response.text();
  if ((response.headers.get('content-type') ?? '').includes('text/event-stream')) {
    const data = text
      .split('\n')
      .filter((l) => l.startsWith('data: '))
      .map((l) => l.slice(6))
      .filter(Boolean);
    return JSON.parse(data[data.length - 1]!) as Record<string, unknown>;
  }
  return JSON.parse(text) as Record<string, unknown>;
}

/**
 * For the shutdown and reclaim tests: a sandbox server as a real process of its own
 * (through npm, as service managers run it, or node directly), with a temporary
 * directory of its own as TMPDIR so that its workspace root, and everything mounted
 * from it, can be found on the host and told apart from any other sandbox's.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './mcp-harness.ts';
import { descendants, freePort } from './processes.ts';

export const TOKEN = 'shutdown-test-token-0123456789';
export const HEADERS = { 'content-type': 'application/json', 'x-access-token': TOKEN };

export interface ServerProcess {
  child: ChildProcess;
  /** The sandbox's URL. */
  url: string;
  /** Its TMPDIR: its workspace root is the fc-ci-sandbox-* inside. */
  tmp: string;
  output(): string;
  exited: Promise<[number | null, NodeJS.Signals | null]>;
  /** The node process serving (npm's child, or the child itself). */
  serverPid(): number;
}

/** A fresh TMPDIR that session uids may pass through (a root server checks it). */
export function freshTmp(): string {
  const tmp = mkdtempSync('/tmp/fc-shutdown-test-');
  chmodSync(tmp, 0o711);
  return tmp;
}

/**
 * Starts `npm run <script>` (start: the MCP server with its own sandbox service; sandbox: the
 * sandbox alone) or, with `direct`, node on handlers/sandbox.ts, detached: its own process
 * group, as a service manager starts it. Resolves once the sandbox answers /health.
 */
export async function startServer(how: { npm: 'start' | 'sandbox' } | { direct: true }, tmp = freshTmp()): Promise<ServerProcess> {
  const sandboxPort = await freePort();
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(MCP_|SANDBOX_|CONTEXT_SECRET|LOG_LEVEL|FC_|npm_)/.test(k)) env[k] = v;
  }
  Object.assign(env, {
    TMPDIR: tmp,
    SANDBOX_HOST: '127.0.0.1',
    SANDBOX_PORT: String(sandboxPort),
    SANDBOX_API_TOKEN: TOKEN,
    SANDBOX_POOL_SIZE: '0',
    MCP_PORT: String(await freePort()),
    CONTEXT_SECRET: 'shutdown-test-context-secret-0123',
  });
  const [command, args] =
    'npm' in how ? ['npm', ['run', '--silent', how.npm]] : [process.execPath, ['--import', 'tsx', 'handlers/sandbox.ts']];
  const child = spawn(command, args as string[], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const url = `http://127.0.0.1:${sandboxPort}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the server exited before listening:\n${out}`);
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {
      // not yet
    }
    if (i > 1200) throw new Error(`the server did not listen within 2 min:\n${out}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const serverPid = () =>
    'npm' in how ? ([child.pid!, ...descendants(child.pid!)].find((pid) => isHandler(pid)) ?? child.pid!) : child.pid!;
  return { child, url, tmp, output: () => out, exited, serverPid };
}

function isHandler(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('handlers/');
  } catch {
    return false;
  }
}

/** True while any process of the group lives. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** What of a sandbox is still on the host under `tmp`: mounts, loop devices, workspace roots, and the server's cgroups. */
export function leftovers(tmp: string, serverPid?: number): string[] {
  const left: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const point = line.split(' ')[4];
    if (point?.startsWith(`${tmp}/`)) left.push(`mount ${point}`);
  }
  for (const line of execFileSync('losetup', ['-a', '-O', 'NAME,BACK-FILE', '--noheadings', '--list']).toString().split('\n')) {
    if (line.includes(`${tmp}/`)) left.push(`loop ${line.trim()}`);
  }
  if (existsSync(tmp)) for (const entry of readdirSync(tmp)) if (entry.startsWith('fc-ci-sandbox-')) left.push(`root ${join(tmp, entry)}`);
  if (serverPid !== undefined) left.push(...cgroupsOf(serverPid).map((dir) => `cgroup ${dir}`));
  return left;
}

/** The sandbox's parent cgroups (`fc-sandbox-<pid>`) and its tenants' (`fc-sandbox-<pid>-tenant-<hash>`, beside it) in every hierarchy. */
export function cgroupsOf(pid: number): string[] {
  let found: string;
  try {
    found = execFileSync(
      'find',
      [
        '/sys/fs/cgroup',
        '-maxdepth',
        '5',
        '-type',
        'd',
        '(',
        '-name',
        `fc-sandbox-${pid}`,
        '-o',
        '-name',
        `fc-sandbox-${pid}-tenant-*`,
        ')',
      ],
      {
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    ).toString();
  } catch (error) {
    found = String((error as { stdout?: Buffer }).stdout ?? ''); // a hierarchy find could not read
  }
  return found.split('\n').filter(Boolean);
}

/** The workspace roots in `tmp`. */
export function rootsIn(tmp: string): string[] {
  return readdirSync(tmp)
    .filter((entry) => entry.startsWith('fc-ci-sandbox-'))
    .map((entry) => join(tmp, entry));
}

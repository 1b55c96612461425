/**
 * What the sandbox tests share: a client that talks to the embedded sandbox the
 * way the MCP side does (fetch + NDJSON lines parsed by the protocol's own parser),
 * and a way to find the processes of the sandboxes it started.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { parseExecutionEvent, type ExecutionEvent } from '../src/sandbox/protocol.ts';

export interface Execution {
  status: number;
  events: ExecutionEvent[];
  stdout: string;
  stderr: string;
  results: Extract<ExecutionEvent, { type: 'result' }>[];
  error?: Extract<ExecutionEvent, { type: 'error' }>;
}

export async function execute(url: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Execution> {
  const response = await fetch(`${url}/execute`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status !== 200) return { status: response.status, events: [], stdout: text, stderr: '', results: [] };
  const events = text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => parseExecutionEvent(line))
    .filter((event): event is ExecutionEvent => event !== undefined);
  return summarize(response.status, events);
}

export function summarize(status: number, events: ExecutionEvent[]): Execution {
  const execution: Execution = { status, events, stdout: '', stderr: '', results: [] };
  for (const event of events) {
    if (event.type === 'stdout') execution.stdout += event.text;
    else if (event.type === 'stderr') execution.stderr += event.text;
    else if (event.type === 'result') execution.results.push(event);
    else if (event.type === 'error') execution.error = event;
  }
  return execution;
}

export async function request(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: any; text: string }> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, json, text };
}

export async function createContext(
  url: string,
  body: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<string> {
  const created = await request(url, 'POST', '/contexts', body, headers);
  if (created.status !== 200) throw new Error(`POST /contexts: ${created.status} ${created.text}`);
  return created.json.id as string;
}

/** The pid namespace of a process, e.g. `pid:[4026532301]`; undefined if it is gone. */
function pidNamespace(pid: number | string): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return undefined;
  }
}

/**
 * The pid namespaces of the sandboxes this test process started: every kernel runs
 * in its own, and everything it spawns (even a daemonised grandchild) stays in it.
 */
export function sandboxNamespaces(): Set<string> {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const own = pidNamespace(process.pid);
  const namespaces = new Set<string>();
  for (const pid of parents.keys()) {
    let ancestor = parents.get(pid);
    while (ancestor !== undefined && ancestor > 1 && ancestor !== process.pid) ancestor = parents.get(ancestor);
    if (ancestor !== process.pid) continue;
    const namespace = pidNamespace(pid);
    if (namespace && namespace !== own) namespaces.add(namespace);
  }
  return namespaces;
}

/** Host pids of the processes living in any of these pid namespaces (zombies, already dead, left out). */
export function processesIn(namespaces: Set<string>): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const namespace = pidNamespace(entry);
    if (!namespace || !namespaces.has(namespace)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
    } catch {
      continue;
    }
    pids.push(Number(entry));
  }
  return pids;
}

/** Polls until `check` is true or `ms` pass; returns the last result (no timing asserted). */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

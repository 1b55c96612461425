/**
 * What the sandbox tests share: a client that talks to the embedded sandbox the
 * way the MCP side does (fetch + NDJSON lines parsed by the protocol's own parser),
 * and a way to find processes still running under a workspace root.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { parseExecutionEvent, type ExecutionEvent } from '../src/sandbox/protocol.ts';

export interface Execution {
  status: number;
  events: ExecutionEvent[];
  stdout: string;
  stderr: string;
  results: Extract<ExecutionEvent, { type: 'result' }>[];
  error?: Extract<ExecutionEvent, { type: 'error' }>;
}

export async function execute(
  url: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<Execution> {
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

/**
 * Host pids of processes whose working directory lies under `root`. Kernels run
 * with their session's workspace as cwd, so this finds them (and any orphan they
 * left) without relying on who their parent is.
 */
export function processesUnder(root: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      if (cwd === root || cwd.startsWith(`${root}/`)) pids.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
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

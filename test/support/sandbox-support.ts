/**
 * What the sandbox tests share: a client that talks to the sandbox service the
 * way the MCP side does (fetch + the client's NDJSON line reader + the protocol's
 * own parser). The processes of the sandboxes a test started: ./processes.ts.
 */
import type { ChildProcess } from 'node:child_process';
import { readLines } from '../../src/mcp-server/sandbox-client/execution.ts';
import { parseExecutionEvent, type ExecutionEvent } from '../../src/protocol/sandbox-api.ts';

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
  if (response.status !== 200 || !response.body) {
    return { status: response.status, events: [], stdout: await response.text(), stderr: '', results: [] };
  }
  const events: ExecutionEvent[] = [];
  for await (const line of readLines(response.body)) {
    const event = parseExecutionEvent(line);
    if (event) events.push(event);
  }
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

/** The URL the sandbox process says it listens on (a log line on stderr); rejects, with its output, if it exits first. */
export function listeningUrl(child: ChildProcess): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let out = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`the sandbox exited (${code}): ${out}`)));
  });
}

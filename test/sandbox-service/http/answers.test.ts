/**
 * Every route of the sandbox service answers in the protocol's shapes (src/protocol/): each
 * answer of a real sandbox is parsed with the schema the protocol declares for it, strictly
 * (a field the protocol does not declare fails too), so the service and its clients cannot
 * drift apart. The file routes answer the complete shapes (CompleteFileEntry: every field).
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { z } from 'zod';
import { startSandbox, type RunningSandbox } from '../../../src/sandbox-service/index.ts';
import {
  AGENTRUN_ROUTES,
  AgentRunExecution,
  CommandResult,
  KilledProcess,
  ProcessInfo,
  ProcessList,
} from '../../../src/protocol/agentrun-api.ts';
import {
  CompleteDirectoryListing,
  CONTEXT_NETWORK_ROUTE,
  CompleteEntryResponse,
  CompleteFileEntry,
  Context,
  ContextList,
  EXISTING_SESSION_HEADER,
  ExecutionEvent,
  FILE_ENCODINGS,
  FILE_ROUTES,
  InterruptedRuns,
  REFUSAL_CODE_HEADER,
  REFUSAL_CODES,
  RUN_ROUTES,
  RunEvents,
  RunStatus,
  SESSIONS_ROUTE,
  SessionList,
  type TenantQuota,
  WrittenFile,
} from '../../../src/protocol/sandbox-api.ts';
import { readLines } from '../../../src/mcp-server/sandbox-client/execution.ts';
import { eventually } from '../../support/eventually.ts';

const SESSION = { 'x-ci-session-id': 'answers' };
const Entry = CompleteFileEntry.strict();
const EntryAnswer = CompleteEntryResponse.extend({ entry: Entry }).strict();

let sandbox: RunningSandbox;

before(async () => {
  sandbox = await startSandbox({ port: 0, poolSize: 0, diskMb: 64 });
});
after(async () => {
  await sandbox?.close();
});

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  const response = await fetch(`${sandbox.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...SESSION },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, text: await response.text() };
}

/** The answer of a call that must succeed, parsed with the protocol's schema for it. */
async function answer<S extends z.ZodType>(schema: S, method: string, path: string, body?: unknown): Promise<z.output<S>> {
  const { status, text } = await call(method, path, body);
  assert.equal(status, 200, `${method} ${path}: ${status} ${text}`);
  const parsed = schema.safeParse(JSON.parse(text));
  assert.ok(parsed.success, `${method} ${path} answered outside the protocol: ${text}\n${parsed.error}`);
  return parsed.data;
}

/** An /execute's NDJSON lines, each parsed with ExecutionEvent (none skipped as unknown). */
async function executeEvents(body: Record<string, unknown>): Promise<ExecutionEvent[]> {
  const response = await fetch(`${sandbox.url}/execute`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...SESSION },
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 200);
  const events: ExecutionEvent[] = [];
  for await (const line of readLines(response.body!)) events.push(ExecutionEvent.parse(JSON.parse(line)));
  return events;
}

const at = (route: string, id: string | number) => route.replace(/:\w+/, String(id));

describe('every route answers in the protocol’s shapes', () => {
  let contextId: string;

  test('health, contexts and sessions', async () => {
    assert.equal(await answer(z.literal('OK'), 'GET', '/health'), 'OK');
    contextId = (await answer(Context.strict(), 'POST', '/contexts', { language: 'python' })).id;
    const listed = await answer(ContextList.element.strict().array(), 'GET', '/contexts');
    assert.ok(listed.some((context) => context.id === contextId));
    assert.ok((await answer(SessionList, 'GET', SESSIONS_ROUTE)).includes('answers'));
    await answer(Context.strict(), 'PUT', at(CONTEXT_NETWORK_ROUTE, contextId), { allowOut: [] });
    const restarted = await call('POST', `/contexts/${contextId}/restart`);
    assert.deepEqual([restarted.status, restarted.text], [200, '']);
  });

  test('/execute: every line an ExecutionEvent', async () => {
    const events = await executeEvents({ context_id: contextId, code: 'print("out")\n1 + 1', report_files: true });
    const types = events.map((event) => event.type);
    for (const type of ['stdout', 'result', 'files_changed', 'end_of_execution'] as const)
      assert.ok(types.includes(type), `${type} in ${types}`);
  });

  test('the run routes', async () => {
    const events = await executeEvents({ context_id: contextId, code: 'import time\ntime.sleep(30)', hold_after: 0.2, tag: 'answers-1' });
    const held = events.find((event) => event.type === 'run_held');
    assert.ok(held, JSON.stringify(events));
    const runId = held.run_id;
    await answer(RunEvents.strict(), 'POST', at(RUN_ROUTES.events, runId), { wait_seconds: 0 });
    const stopped = await answer(RunStatus.strict(), 'POST', at(RUN_ROUTES.interrupt, runId));
    assert.equal(stopped.run_id, runId);
    await answer(InterruptedRuns.strict(), 'POST', RUN_ROUTES.interruptTagged, { tag: 'answers-1' });
    const end = await answer(RunEvents.strict(), 'POST', at(RUN_ROUTES.events, runId), { wait_seconds: 10, until: 'end' });
    assert.equal(end.status, 'done');
    for (const event of end.events) ExecutionEvent.parse(event);
  });

  test('the file routes', async () => {
    const written = await answer(WrittenFile.strict(), 'POST', FILE_ROUTES.files, { path: 'a/b.txt', content: 'hello' });
    assert.deepEqual(written, { path: '/home/user/a/b.txt', size: 5 });
    const Content = CompleteFileEntry.extend({ content: z.string(), encoding: z.enum(FILE_ENCODINGS) }).strict();
    assert.equal((await answer(Content, 'GET', `${FILE_ROUTES.files}?path=a/b.txt`)).content, 'hello');
    const Listing = CompleteDirectoryListing.extend({ entries: z.array(Entry) }).strict();
    const listing = await answer(Listing, 'GET', `${FILE_ROUTES.list}?path=a&depth=2`);
    assert.deepEqual(
      listing.entries.map((entry) => entry.name),
      ['b.txt'],
    );
    await answer(EntryAnswer, 'GET', `${FILE_ROUTES.stat}?path=a/b.txt`);
    const download = await call('GET', `${FILE_ROUTES.download}?path=a/b.txt`);
    assert.deepEqual([download.status, download.text], [200, 'hello']);

    const form = new FormData();
    form.set('path', 'up.bin');
    form.set('file', new Blob([new Uint8Array([1, 2, 3])]));
    const uploaded = await fetch(`${sandbox.url}${FILE_ROUTES.upload}`, { method: 'POST', headers: SESSION, body: form });
    const uploadText = await uploaded.text();
    assert.equal(uploaded.status, 200, uploadText);
    assert.deepEqual(WrittenFile.strict().parse(JSON.parse(uploadText)), { path: '/home/user/up.bin', size: 3 });

    await answer(EntryAnswer, 'POST', FILE_ROUTES.mkdir, { path: 'c/d' });
    await answer(EntryAnswer, 'POST', FILE_ROUTES.move, { source: 'a/b.txt', destination: 'c/d/b.txt' });
    await answer(EntryAnswer, 'POST', FILE_ROUTES.remove, { path: 'c' });
  });

  test("AgentRun's routes", async () => {
    await answer(AgentRunExecution.strict(), 'POST', AGENTRUN_ROUTES.execute, { code: '2 + 2', contextId });
    await answer(Context.strict(), 'GET', at(AGENTRUN_ROUTES.context, contextId));
    const slow = answer(CommandResult.strict(), 'POST', AGENTRUN_ROUTES.cmd, { command: 'sleep 30' });
    let listed: z.output<typeof ProcessList> = [];
    await eventually(async () => {
      listed = await answer(ProcessList.element.strict().array(), 'GET', AGENTRUN_ROUTES.processes);
      return listed.length === 1;
    }, 10_000);
    const pid = listed[0]!.pid;
    await answer(ProcessInfo.strict(), 'GET', at(AGENTRUN_ROUTES.process, pid));
    await answer(KilledProcess.strict(), 'DELETE', at(AGENTRUN_ROUTES.process, pid));
    assert.equal((await slow).pid, pid);
  });

  test('DELETE /contexts/:id', async () => {
    const deleted = await call('DELETE', `/contexts/${contextId}`);
    assert.deepEqual([deleted.status, deleted.text], [200, '']);
  });
});

describe('every refusal carries its code, with the status the protocol gives it, and a text body', () => {
  async function refused(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = { 'content-type': 'application/json', ...SESSION },
  ) {
    const response = await fetch(`${sandbox.url}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const code = response.headers.get(REFUSAL_CODE_HEADER) as keyof typeof REFUSAL_CODES | null;
    const text = await response.text();
    assert.ok(code !== null && code in REFUSAL_CODES, `${method} ${path}: ${response.status} without a code: ${text}`);
    assert.equal(response.status, REFUSAL_CODES[code], `${method} ${path}: ${code}`);
    assert.ok(text.length > 0 && !text.startsWith('{'), `a plain-text message: ${text}`);
    return code;
  }

  test('each kind of refusal', async () => {
    assert.equal(await refused('POST', '/contexts', '{not json'), 'invalid_request');
    assert.equal(await refused('POST', '/contexts', { language: 'cobol' }), 'invalid_request');
    assert.equal(await refused('DELETE', '/contexts/nope'), 'not_found');
    assert.equal(await refused('POST', at(RUN_ROUTES.events, 'nope'), {}), 'not_found');
    assert.equal(await refused('GET', `${FILE_ROUTES.files}?path=missing.txt`), 'file_not_found');
    assert.equal(await refused('POST', FILE_ROUTES.mkdir, { path: '../x' }), 'invalid_request');
    const existing = { 'content-type': 'application/json', 'x-ci-session-id': 'never-made', [EXISTING_SESSION_HEADER]: '1' };
    assert.equal(await refused('GET', `${FILE_ROUTES.stat}?path=a`, undefined, existing), 'unknown_session');
    const quotaSession = { 'content-type': 'application/json', 'x-ci-session-id': 'quota-1' };
    const quota = { session_prefix: 'quota-', max_contexts: 1 } satisfies z.input<typeof TenantQuota>;
    assert.equal(
      (await fetch(`${sandbox.url}/contexts`, { method: 'POST', headers: quotaSession, body: JSON.stringify({ quota }) })).status,
      200,
    );
    assert.equal(await refused('POST', '/contexts', { quota }, quotaSession), 'quota_reached');
    assert.equal(await refused('POST', '/contexts', 'text', { 'content-type': 'text/plain', ...SESSION }), 'unsupported_media_type');
    // A web page's request (fetch cannot set Host or Origin): node:http.
    const page = await new Promise<{ status: number; code: unknown }>((resolve, reject) => {
      const target = new URL(sandbox.url);
      const req = httpRequest(
        { host: target.hostname, port: target.port, method: 'POST', path: '/contexts', headers: { origin: 'https://evil.example' } },
        (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0, code: res.headers[REFUSAL_CODE_HEADER] });
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.deepEqual(page, { status: 403, code: 'forbidden' });
    assert.equal(await refused('POST', '/contexts', { pad: 'x'.repeat(9 * 1024 * 1024) }), 'too_large');
  });
});

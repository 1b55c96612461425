/**
 * The sandbox service speaks E2B's code-interpreter protocol: every endpoint,
 * state across calls, rich results and errors, against real ipykernels.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startSandbox, type RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { createContext, execute, request } from '../../support/sandbox-support.ts';

let sandbox: RunningSandbox;
let url: string;

before(async () => {
  sandbox = await startSandbox({ port: 0, poolSize: 1, keepaliveSeconds: 1 });
  url = sandbox.url;
});
after(async () => {
  await sandbox.close();
});

describe('the sandbox protocol', () => {
  test('GET /health answers OK', async () => {
    const health = await request(url, 'GET', '/health');
    assert.equal(health.status, 200);
    assert.equal(health.json, 'OK');
  });

  test('POST /contexts creates a Python context with E2B defaults and our extension fields', async () => {
    const created = await request(url, 'POST', '/contexts', { language: 'Python', metadata: { purpose: 'test' } });
    assert.equal(created.status, 200);
    assert.match(created.json.id, /^[0-9a-f-]{36}$/);
    assert.equal(created.json.language, 'python');
    assert.equal(created.json.cwd, '/home/user');
    assert.deepEqual(created.json.metadata, { purpose: 'test' });
    assert.ok(!Number.isNaN(Date.parse(created.json.created_at)));
    assert.ok(!Number.isNaN(Date.parse(created.json.last_used)));

    const listed = await request(url, 'GET', '/contexts');
    assert.equal(listed.status, 200);
    assert.ok(listed.json.some((context: { id: string }) => context.id === created.json.id));
  });

  test('an execution streams stdout, the main result and the execution count, and ends with end_of_execution', async () => {
    const id = await createContext(url);
    const run = await execute(url, { code: 'x = 20\nprint("hello")\nx * 2 + 2', context_id: id });
    assert.equal(run.status, 200);
    assert.equal(run.stdout, 'hello\n');
    assert.equal(run.results.length, 1);
    assert.equal(run.results[0]!.text, '42');
    assert.equal(run.results[0]!.is_main_result, true);
    assert.deepEqual(run.events.at(-1), { type: 'end_of_execution' });
    assert.ok(run.events.some((event) => event.type === 'number_of_executions' && event.execution_count === 1));
    assert.equal(run.error, undefined);
  });

  test('output reaches the client as it happens: a print, a pause, a print arrive in separate reads, one event per line', async () => {
    const response = await fetch(new URL('/execute', url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code: 'import time\nprint("first", flush=True)\ntime.sleep(1)\nprint("second")' }),
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/x-ndjson/);
    const decoder = new TextDecoder();
    const reads: string[] = [];
    for await (const chunk of response.body!) reads.push(decoder.decode(chunk as Uint8Array, { stream: true }));
    const readOf = (text: string) => reads.findIndex((read) => read.includes(text));
    assert.ok(readOf('first') >= 0 && readOf('second') > readOf('first'), `reads: ${JSON.stringify(reads)}`);
    const lines = reads.join('').split('\n');
    assert.equal(lines.pop(), '');
    const events = lines.map((line) => JSON.parse(line) as { type: string; text?: string });
    assert.deepEqual(
      events.filter((event) => event.type === 'stdout').map((event) => event.text),
      ['first\n', 'second\n'],
    );
    assert.deepEqual(events.at(-1), { type: 'end_of_execution' });
  });

  test('state persists across executions in one context and not into another', async () => {
    const first = await createContext(url);
    const second = await createContext(url);
    await execute(url, { code: 'counter = 1', context_id: first });
    await execute(url, { code: 'counter += 1', context_id: first });
    const value = await execute(url, { code: 'counter', context_id: first });
    assert.equal(value.results[0]?.text, '2');
    const elsewhere = await execute(url, { code: 'counter', context_id: second });
    assert.equal(elsewhere.error?.name, 'NameError');
  });

  test('a string result loses one pair of quotes, as in E2B', async () => {
    const run = await execute(url, { code: '"abc"' });
    assert.equal(run.results[0]?.text, 'abc');
  });

  test('stderr is streamed separately', async () => {
    const run = await execute(url, { code: 'import sys\nprint("oops", file=sys.stderr)' });
    assert.equal(run.stderr, 'oops\n');
    assert.equal(run.stdout, '');
  });

  test('a matplotlib chart comes back as a png display result', async () => {
    const run = await execute(url, {
      code: 'import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.show()',
    });
    assert.equal(run.error, undefined, run.error?.traceback);
    const chart = run.results.find((result) => result.png);
    assert.ok(chart, 'a result with png');
    assert.equal(chart.is_main_result, false);
    const png = Buffer.from(chart.png!, 'base64');
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  });

  test('a DataFrame comes back as text and html', async () => {
    const run = await execute(url, { code: 'import pandas as pd\npd.DataFrame({"a": [1, 2], "b": ["x", "y"]})' });
    assert.equal(run.error, undefined, run.error?.traceback);
    const frame = run.results[0]!;
    assert.equal(frame.is_main_result, true);
    assert.match(frame.text!, /a\s+b/);
    assert.match(frame.html!, /<table/);
  });

  test('an exception gives one error event with name, value and a traceback without ANSI codes', async () => {
    const run = await execute(url, { code: 'def f():\n    raise ValueError("bad value")\nf()' });
    assert.equal(run.error?.name, 'ValueError');
    assert.equal(run.error?.value, 'bad value');
    assert.match(run.error!.traceback, /ValueError: bad value/);
    assert.doesNotMatch(run.error!.traceback, /\u001b/);
    assert.equal(run.events.filter((event) => event.type === 'error').length, 1);
    assert.deepEqual(run.events.at(-1), { type: 'end_of_execution' });
  });

  test('env_vars apply to one execution only', async () => {
    const id = await createContext(url);
    const run = await execute(url, { code: 'import os\nos.environ.get("GREETING")', context_id: id, env_vars: { GREETING: 'hi' } });
    assert.equal(run.results[0]?.text, 'hi');
    const later = await execute(url, { code: 'import os\nos.environ.get("GREETING")', context_id: id });
    assert.equal(later.results.length, 0, 'None has no result');
  });

  test('a context can start in another directory, created inside the workspace', async () => {
    const id = await createContext(url, { cwd: '/home/user/project' });
    const run = await execute(url, { code: 'import os\nos.getcwd()', context_id: id });
    assert.equal(run.results[0]?.text, '/home/user/project');
  });

  test('keepalive lines fill a silence', async () => {
    const run = await execute(url, { code: 'import time\ntime.sleep(2.5)\nprint("done")' });
    assert.ok(run.events.some((event) => event.type === 'keepalive'));
    assert.equal(run.stdout, 'done\n');
  });

  test('POST /contexts/:id/restart clears the state and keeps the id', async () => {
    const id = await createContext(url);
    await execute(url, { code: 'kept = 1', context_id: id });
    const restarted = await request(url, 'POST', `/contexts/${id}/restart`);
    assert.equal(restarted.status, 200);
    const run = await execute(url, { code: 'kept', context_id: id });
    assert.equal(run.error?.name, 'NameError');
    const again = await execute(url, { code: '1 + 1', context_id: id });
    assert.equal(again.results[0]?.text, '2');
  });

  test('DELETE /contexts/:id removes it; the id is then unknown everywhere', async () => {
    const id = await createContext(url);
    const deleted = await request(url, 'DELETE', `/contexts/${id}`);
    assert.equal(deleted.status, 200);
    const listed = await request(url, 'GET', '/contexts');
    assert.ok(!listed.json.some((context: { id: string }) => context.id === id));
    assert.equal((await execute(url, { code: '1', context_id: id })).status, 404);
    assert.equal((await request(url, 'DELETE', `/contexts/${id}`)).status, 404);
    assert.equal((await request(url, 'POST', `/contexts/${id}/restart`)).status, 404);
  });

  test('bad requests get precise 4xx answers and the server stays up', async () => {
    const both = await execute(url, { code: '1', context_id: 'x', language: 'python' });
    assert.equal(both.status, 400);
    assert.match(both.stdout, /context_id or language/);

    const unknownLanguage = await request(url, 'POST', '/contexts', { language: 'cobol' });
    assert.equal(unknownLanguage.status, 400);
    assert.match(unknownLanguage.text, /supported: python, javascript, typescript, bash, r/);

    const noCode = await execute(url, { context_id: 'x' });
    assert.equal(noCode.status, 400);
    assert.match(noCode.stdout, /code/);

    const notJson = await fetch(`${url}/execute`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
    assert.equal(notJson.status, 400);
    assert.match(await notJson.text(), /not valid JSON/);

    const relativeCwd = await request(url, 'POST', '/contexts', { cwd: 'relative' });
    assert.equal(relativeCwd.status, 400);

    const unknown = await execute(url, { code: '1', context_id: 'no-such-context' });
    assert.equal(unknown.status, 404);

    assert.equal((await request(url, 'GET', '/health')).status, 200);
  });
});

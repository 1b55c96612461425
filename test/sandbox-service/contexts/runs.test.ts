/**
 * The sandbox's runs (extensions of the execute protocol), against a real sandbox service and
 * real kernels: what a run changed in the workspace (files_changed), stopping a run by its tag
 * from another request, and held runs that outlive their /execute stream, read with a long-poll
 * from any request and interrupted. Runs are found in their own session only.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startSandbox, type RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { readLines } from '../../../src/mcp-server/sandbox-client/execution.ts';
import { type ExecutionEvent, parseExecutionEvent } from '../../../src/protocol/sandbox-api.ts';
import { createContext, execute, request, summarize } from '../../support/sandbox-support.ts';

let sandbox: RunningSandbox;
let url: string;
const SESSION = { 'x-ci-session-id': 'runs-a' };
const OTHER = { 'x-ci-session-id': 'runs-b' };

before(async () => {
  sandbox = await startSandbox({ port: 0, poolSize: 0, keepaliveSeconds: 1 });
  url = sandbox.url;
});
after(async () => {
  await sandbox.close();
});

/** Reads a held run's events until it is done; each read's events, in order. */
async function readToEnd(runId: string, headers = SESSION): Promise<ExecutionEvent[][]> {
  const reads: ExecutionEvent[][] = [];
  for (;;) {
    const read = await request(url, 'POST', `/runs/${runId}/events`, { wait_seconds: 5 }, headers);
    assert.equal(read.status, 200, read.text);
    reads.push(read.json.events);
    if (read.json.status === 'done') return reads;
  }
}

describe('runs', () => {
  test('report_files: the stream says which files the run wrote, before end_of_execution, hidden ones left out', async () => {
    const id = await createContext(url, {}, SESSION);
    await execute(url, { context_id: id, code: 'open("old.txt", "w").write("x")' }, SESSION);
    const run = await execute(
      url,
      {
        context_id: id,
        report_files: true,
        code: 'import os\nos.makedirs("out", exist_ok=True)\nopen("out/r.csv", "w").write("a,b\\n")\nopen(".hidden", "w").write("h")',
      },
      SESSION,
    );
    const types = run.events.map((event) => event.type);
    assert.deepEqual(types.slice(-2), ['files_changed', 'end_of_execution']);
    const changed = run.events.find((event) => event.type === 'files_changed');
    assert.deepEqual(changed, { type: 'files_changed', files: [{ path: '/home/user/out/r.csv', size: 4 }] });

    const plain = await execute(url, { context_id: id, code: '1' }, SESSION);
    assert.ok(!plain.events.some((event) => event.type === 'files_changed'), 'only when asked for');
  });

  test('POST /runs/interrupt stops the session’s run with that tag; another session’s same tag does nothing', async () => {
    const id = await createContext(url, {}, SESSION);
    const response = await fetch(`${url}/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...SESSION },
      body: JSON.stringify({
        context_id: id,
        tag: 'req-1',
        code: 'import time\nx = 1\nprint("started", flush=True)\ntime.sleep(30)\nx = 2',
      }),
    });
    const events: ExecutionEvent[] = [];
    const lines = readLines(response.body!);
    // Interrupted only once the code runs (a tag cancelled before its run would stop it before x = 1).
    // Read by hand: leaving a for-await would close the stream.
    while (!events.some((event) => event.type === 'stdout')) {
      const { value, done } = await lines.next();
      if (done) break;
      const event = parseExecutionEvent(value);
      if (event) events.push(event);
    }
    const other = await request(url, 'POST', '/runs/interrupt', { tag: 'req-1' }, OTHER);
    assert.deepEqual(other.json, { interrupted: 0 });
    assert.deepEqual((await request(url, 'POST', '/runs/interrupt', { tag: 'req-1' }, SESSION)).json, { interrupted: 1 });
    for await (const line of lines) {
      const event = parseExecutionEvent(line);
      if (event) events.push(event);
    }
    const run = summarize(200, events);
    assert.equal(run.error?.name, 'CancelledError');
    assert.match(run.error!.value, /context and its variables remain/);
    assert.equal((await execute(url, { context_id: id, code: 'print(x)' }, SESSION)).stdout, '1\n', 'the variables survive');
  });

  test('a tag cancelled before its run arrives stops that run before its code runs', async () => {
    const id = await createContext(url, {}, SESSION);
    assert.deepEqual((await request(url, 'POST', '/runs/interrupt', { tag: 'early' }, SESSION)).json, { interrupted: 0 });
    const run = await execute(url, { context_id: id, tag: 'early', code: 'y = 1' }, SESSION);
    assert.equal(run.error?.name, 'CancelledError');
    assert.equal((await execute(url, { context_id: id, code: 'print(globals().get("y"))' }, SESSION)).stdout, 'None\n');
  });

  test("with early: false a tag that finds no run is forgotten: a run that starts with it after runs (a gone client's id, reused)", async () => {
    const id = await createContext(url, {}, SESSION);
    assert.deepEqual((await request(url, 'POST', '/runs/interrupt', { tag: 'gone', early: false }, SESSION)).json, { interrupted: 0 });
    const run = await execute(url, { context_id: id, tag: 'gone', code: 'y = 2\ny' }, SESSION);
    assert.equal(run.error, undefined, JSON.stringify(run.error));
    assert.equal(run.results[0]?.text, '2');
    const bad = await request(url, 'POST', '/runs/interrupt', { tag: 'gone', early: 'no' }, SESSION);
    assert.equal(bad.status, 400, bad.text);
  });

  test('hold_after: the stream ends with run_held, the run goes on, and its events are read once each, in order', async () => {
    const id = await createContext(url, {}, SESSION);
    const code = 'import time\nfor i in range(6):\n    print(f"line {i}", flush=True)\n    time.sleep(0.4)\nz = 3\nz';
    const first = await execute(url, { context_id: id, code, hold_after: 0.5 }, SESSION);
    const held = first.events.at(-1);
    assert.equal(held?.type, 'run_held');
    assert.ok(!first.events.some((event) => event.type === 'end_of_execution'));
    const runId = (held as { run_id: string }).run_id;

    assert.equal((await request(url, 'POST', `/runs/${runId}/events`, {}, OTHER)).status, 404, 'another session does not find it');
    const reads = await readToEnd(runId);
    const rest = summarize(200, reads.flat());
    assert.equal(first.stdout + rest.stdout, 'line 0\nline 1\nline 2\nline 3\nline 4\nline 5\n', 'every line once, in order');
    assert.equal(rest.results[0]?.text, '3');
    assert.equal(reads.flat().at(-1)?.type, 'end_of_execution');
    assert.ok(!reads.flat().some((event) => event.type === 'keepalive'));

    const again = await request(url, 'POST', `/runs/${runId}/events`, {}, SESSION);
    assert.deepEqual([again.json.status, again.json.events], ['done', []], 'nothing is read twice');
    const gone = await request(url, 'POST', `/runs/${runId}/events`, { after: 0 }, SESSION);
    assert.equal(gone.status, 410, 'events read past are gone');
  });

  test('POST /runs/{id}/interrupt stops a held run with a CancelledError; the context keeps its variables', async () => {
    const id = await createContext(url, {}, SESSION);
    const first = await execute(url, { context_id: id, code: 'import time\nw = 1\ntime.sleep(30)\nw = 2', hold_after: 0.3 }, SESSION);
    const runId = (first.events.at(-1) as { run_id: string }).run_id;
    assert.equal((await request(url, 'POST', `/runs/${runId}/interrupt`, undefined, OTHER)).status, 404);
    const interrupted = await request(url, 'POST', `/runs/${runId}/interrupt`, undefined, SESSION);
    assert.equal(interrupted.status, 200, interrupted.text);
    const rest = summarize(200, (await readToEnd(runId)).flat());
    assert.equal(rest.error?.name, 'CancelledError');
    assert.equal((await execute(url, { context_id: id, code: 'print(w)' }, SESSION)).stdout, '1\n');
  });

  test('discard_context: a held run’s context goes once the run’s end has been read', async () => {
    const id = await createContext(url, {}, SESSION);
    const first = await execute(
      url,
      { context_id: id, code: 'import time\ntime.sleep(0.6)\nprint("done")', hold_after: 0.2, discard_context: true },
      SESSION,
    );
    const runId = (first.events.at(-1) as { run_id: string }).run_id;
    const contexts = async () => (await request(url, 'GET', '/contexts', undefined, SESSION)).json.map((c: { id: string }) => c.id);
    assert.ok((await contexts()).includes(id), 'the context lives while the run is unread');
    const reads = await readToEnd(runId);
    assert.equal(summarize(200, reads.flat()).stdout, 'done\n');
    assert.ok(!(await contexts()).includes(id), 'and goes with its last read');
  });

  test('a run whose error is out is ending: a read until its end brings the error with the end, never with "running"', async () => {
    const id = await createContext(url, {}, SESSION);
    for (let round = 0; round < 5; round++) {
      const code = 'import time\ntime.sleep(0.3)\nopen(f"f{time.time()}.txt", "w").write("x")\nraise ValueError("late")';
      const first = await execute(url, { context_id: id, code, hold_after: 0.1, report_files: true }, SESSION);
      const runId = (first.events.at(-1) as { run_id: string }).run_id;
      // Reads with a wait far shorter than the run, polled back to back: one is bound to land
      // between the error and the end unless the sandbox keeps the error for the end's answer.
      for (;;) {
        const read = await request(url, 'POST', `/runs/${runId}/events`, { wait_seconds: 0.01, until: 'end' }, SESSION);
        assert.equal(read.status, 200, read.text);
        const types = read.json.events.map((event: ExecutionEvent) => event.type);
        if (types.includes('error')) {
          assert.equal(read.json.status, 'done', `the error came with "running": ${types.join(', ')}`);
          assert.deepEqual(types.slice(-2), ['files_changed', 'end_of_execution']);
        }
        if (read.json.status === 'done') break;
      }
    }
  });

  test('bad requests: an invalid tag, an unknown run', async () => {
    const bad = await request(url, 'POST', '/runs/interrupt', { tag: 'a b' }, SESSION);
    assert.equal(bad.status, 400);
    assert.match(bad.text, /tag/);
    const unknown = await request(url, 'POST', '/runs/nope/events', {}, SESSION);
    assert.equal(unknown.status, 404);
    assert.match(unknown.text, /unknown run "nope"/);
  });
});

describe('held runs nobody reads', () => {
  const CAP = 20_000;
  let small: RunningSandbox;
  before(async () => {
    // Runs queue up here (each is held while it waits its turn): more than SANDBOX_MAX_QUEUED_RUNS's default.
    small = await startSandbox({ port: 0, poolSize: 0, outputLimitBytes: CAP, maxQueuedRuns: 16 });
  });
  after(async () => {
    await small?.close();
  });

  test('are bounded together: past 8 output caps of unread events the oldest are forgotten, the rest kept whole', async () => {
    const id = await createContext(small.url, {}, SESSION);
    // Each run is held, then prints nearly its cap and ends; nobody reads it. The context runs
    // one at a time, so each run has ended before the next starts.
    const code = 'import time\ntime.sleep(0.3)\nfor i in range(3):\n    print("y" * 6000, flush=True)';
    const runIds: string[] = [];
    for (let i = 0; i < 12; i++) {
      const first = await execute(small.url, { context_id: id, code, hold_after: 0.1 }, SESSION);
      const held = first.events.at(-1);
      assert.equal(held?.type, 'run_held', JSON.stringify(first.events));
      runIds.push((held as { run_id: string }).run_id);
    }
    await execute(small.url, { context_id: id, code: '1' }, SESSION); // the last held run has ended
    const answers = [];
    for (const runId of runIds) answers.push(await request(small.url, 'POST', `/runs/${runId}/events`, {}, SESSION));
    const kept = answers.filter((answer) => answer.status === 200);
    const forgotten = answers.filter((answer) => answer.status !== 200);
    assert.ok(forgotten.length >= 3, `12 runs near the cap cannot all be kept: ${forgotten.length} forgotten`);
    assert.deepEqual(
      answers.map((answer) => answer.status),
      [...forgotten.map(() => 404), ...kept.map(() => 200)],
      'the oldest go first',
    );
    assert.match(forgotten[0]!.text, /unknown run/);
    for (const answer of kept) {
      const rest = summarize(200, answer.json.events);
      assert.equal(rest.stdout, `${'y'.repeat(6000)}\n`.repeat(3), 'each kept run is whole');
    }
  });
});

/**
 * What a tenant can make the sandbox service itself hold, outside every cgroup, is
 * bounded. Each test is the security review's reproduction against a sandbox in a process of its own
 * (`npm run sandbox`, as root, jailed kernels), whose memory is read from /proc (VmHWM: its
 * peak resident set).
 *
 * - finding 1: code publishing huge messages on its kernel's own iopub socket;
 * - finding 2: runs queued behind a long one, each with megabytes of code;
 * - finding 2: runs queued behind a long one, each with megabytes of code (and run_code's failure);
 * - finding 5: half a million empty output events.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { createContext, execute, listeningUrl, request } from '../../support/sandbox-support.ts';
import { stopChild } from '../../support/processes.ts';
import { call, connect, startMcp, structured, textOf } from '../../support/mcp-harness.ts';
import { startSandbox } from '../../../src/sandbox-service/index.ts';

const SESSION = { 'x-ci-session-id': 'shared-memory-a' };
/** Small caps, so that the bounds are reached in seconds: 1 MB of output (8 MB for held runs together), 10,000 events. */
const OUTPUT_LIMIT = 1_000_000;
const MAX_EVENTS = 10_000;
const OTHER = { 'x-ci-session-id': 'shared-memory-b' };

let child: ChildProcess;
let url: string;

before(async () => {
  child = spawn(process.execPath, ['--import', 'tsx', 'handlers/sandbox.ts'], {
    env: {
      ...process.env,
      SANDBOX_PORT: '0',
      SANDBOX_POOL_SIZE: '0',
      SANDBOX_OUTPUT_LIMIT_BYTES: String(OUTPUT_LIMIT),
      SANDBOX_MAX_OUTPUT_EVENTS: String(MAX_EVENTS),
    },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  url = await listeningUrl(child);
});

after(async () => {
  if (child) await stopChild(child);
});

/** The sandbox process's resident set now and at its peak, MB. */
function memory(): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rss: Math.round(kb('VmRSS') / 1024), peak: Math.round(kb('VmHWM') / 1024) };
}

/** Forgets the peak so far (writing 5 to clear_refs resets VmHWM to the current RSS). */
function resetPeak(): void {
  writeFileSync(`/proc/${child.pid}/clear_refs`, '5');
}

describe('finding 1: a kernel cannot make the service take unbounded memory through its sockets', () => {
  test('huge messages on its own iopub: the kernel is stopped as dead with a clear error, the service stays small', async () => {
    const id = await createContext(url, {}, SESSION);
    assert.equal((await execute(url, { context_id: id, code: 'x = 41' }, SESSION)).error, undefined);
    resetPeak();
    const before = memory();
    const flood = await execute(
      url,
      {
        context_id: id,
        code:
          'k = get_ipython().kernel\n' +
          'buf = b"x" * 50_000_000\n' +
          'for i in range(20):\n' +
          '    k.iopub_thread.socket.send_multipart([b"stream", b"<IDS|MSG>", b"bad", b"{}", b"{}", b"{}", buf], copy=False)\n' +
          'import time\ntime.sleep(3)\nprint("still here")',
      },
      SESSION,
    );
    const peak = memory().peak;
    console.log(`finding 1: service RSS ${before.rss} MB before, peak ${peak} MB during the flood`);
    assert.equal(flood.error?.name, 'KernelDiedError', JSON.stringify(flood.events).slice(0, 500));
    assert.match(flood.error!.value, /message larger than \d+ bytes/);
    assert.ok(peak - before.rss < 150, `the service grew from ${before.rss} to ${peak} MB`);
    // The context goes on with a fresh kernel; the other session never noticed.
    const next = await execute(url, { context_id: id, code: 'print("fresh")' }, SESSION);
    assert.equal(next.stdout, 'fresh\n');
    const other = await createContext(url, {}, OTHER);
    assert.equal((await execute(url, { context_id: other, code: 'print(1)' }, OTHER)).stdout, '1\n');
  });

  test('one message of many frames, each under the limit: the same', async () => {
    const id = await createContext(url, {}, SESSION);
    resetPeak();
    const before = memory();
    const flood = await execute(
      url,
      {
        context_id: id,
        code:
          'k = get_ipython().kernel\n' +
          'buf = b"x" * 1_000_000\n' +
          'k.iopub_thread.socket.send_multipart([b"stream", b"<IDS|MSG>", b"bad", b"{}", b"{}", b"{}"] + [buf] * 1000, copy=False)\n' +
          'import time\ntime.sleep(3)\nprint("still here")',
      },
      SESSION,
    );
    const peak = memory().peak;
    console.log(`finding 1 (frames): service RSS ${before.rss} MB before, peak ${peak} MB during the flood`);
    assert.equal(flood.error?.name, 'KernelDiedError', JSON.stringify(flood.events).slice(0, 500));
    assert.ok(peak - before.rss < 150, `the service grew from ${before.rss} to ${peak} MB`);
  });
});

/** Python that publishes `count` empty stdout messages of the running execution, signed, straight on iopub. */
function emptyEvents(count: number): string {
  return (
    'k = get_ipython().kernel\n' +
    'msg = k.session.msg("stream", {"name": "stdout", "text": ""}, parent=k.get_parent("shell"))\n' +
    'frames = k.session.serialize(msg, ident=b"stream.stdout")\n' +
    'import time\n' +
    `for i in range(${count}):\n` +
    '    k.iopub_thread.socket.send_multipart(frames)\n' +
    '    if i % 1000 == 999: time.sleep(0.001)\n'
  );
}

describe('finding 5: empty output events count', () => {
  test('500,000 empty stream messages: the execution stops at the event cap, its events bounded', async () => {
    const id = await createContext(url, {}, SESSION);
    const run = await execute(url, { context_id: id, code: emptyEvents(500_000) }, SESSION);
    const outputs = run.events.filter((event) => event.type === 'stdout').length;
    console.log(`finding 5: ${outputs} empty stdout events streamed`);
    assert.equal(run.error?.name, 'OutputLimitExceeded', JSON.stringify(run.events.slice(-3)));
    assert.match(run.error!.value, /more than 10000 output events \(SANDBOX_MAX_OUTPUT_EVENTS\)/);
    assert.ok(outputs <= MAX_EVENTS, `${outputs} events`);
  });

  test('held and unread: what a held run keeps is bounded, and the service with it', async () => {
    const id = await createContext(url, {}, SESSION);
    resetPeak();
    const before = memory();
    const response = await fetch(`${url}/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...SESSION },
      body: JSON.stringify({ context_id: id, code: `import time\ntime.sleep(0.5)\n${emptyEvents(500_000)}`, hold_after: 0.2 }),
    });
    const held = (await response.text()).split('\n').find((line) => line.includes('run_held'));
    assert.ok(held, 'the run is held');
    const runId = JSON.parse(held).run_id as string;
    // One read, at its end (or a minute on): nothing is read, so nothing is freed, before.
    const read = await request(url, 'POST', `/runs/${runId}/events`, { wait_seconds: 60, until: 'end' }, SESSION);
    const events: { type: string; name?: string }[] = read.json?.events ?? [];
    const peak = memory().peak;
    console.log(`finding 5 (held): service RSS ${before.rss} MB before, peak ${peak} MB; ${events.length} events kept`);
    assert.equal(read.json?.status, 'done', read.text.slice(0, 300));
    assert.ok(events.length <= MAX_EVENTS + 10, `${events.length} events kept`);
    assert.equal(events.find((event) => event.type === 'error')?.name, 'OutputLimitExceeded');
  });

  test("running held runs count against the held runs' budget: past it the one holding most is stopped", async () => {
    // Nine runs each holding 0.9 MB unread while they go on: 8.1 MB, over the 8 MB held runs keep together.
    const ids = await Promise.all(Array.from({ length: 9 }, () => createContext(url, {}, OTHER)));
    const runIds = await Promise.all(
      ids.map(async (id, i) => {
        const response = await fetch(`${url}/execute`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...OTHER },
          body: JSON.stringify({
            context_id: id,
            code: `import time\ntime.sleep(0.5)\nprint("${i}" * ${i === 8 ? 850_000 : 900_000}, flush=True)\ntime.sleep(8)\nprint("end")`,
            hold_after: 0.2,
          }),
        });
        const held = (await response.text()).split('\n').find((line) => line.includes('run_held'));
        assert.ok(held, 'the run is held');
        return JSON.parse(held).run_id as string;
      }),
    );
    const ends = await Promise.all(
      runIds.map(async (runId) => {
        for (;;) {
          const read = await request(url, 'POST', `/runs/${runId}/events`, { wait_seconds: 20, until: 'end', after: 0 }, OTHER);
          assert.equal(read.status, 200, read.text);
          if (read.json.status === 'done') return read.json.events.find((event: { type: string }) => event.type === 'error');
        }
      }),
    );
    const stopped = ends.filter((error) => error?.name === 'OutputLimitExceeded');
    assert.equal(stopped.length, 1, JSON.stringify(ends));
    assert.match(stopped[0].value, /more unread output than this sandbox keeps for held runs \(8000000 bytes among them all/);
    assert.equal(ends[8], undefined, 'the smallest goes on');
  });
});

/** Starts a run held after 0.2 s; its run id, or the refusal's status and text. */
async function startHeld(
  id: string,
  code: string,
  headers: Record<string, string>,
): Promise<{ runId?: string; status: number; text: string }> {
  const response = await fetch(`${url}/execute`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ context_id: id, code, hold_after: 0.2 }),
  });
  const text = await response.text();
  const held = text.split('\n').find((line) => line.includes('run_held'));
  return { status: response.status, text, runId: held ? (JSON.parse(held).run_id as string) : undefined };
}

/** 4 MB of code that does nothing. */
const BIG_CODE = `x = 1\n#${'a'.repeat(4_000_000)}\n`;

describe('finding 2: queued runs are bounded', () => {
  test('40 runs of 4 MB queued behind a long one: past SANDBOX_MAX_QUEUED_RUNS each is refused, the service stays small', async () => {
    const session = { 'x-ci-session-id': 'shared-memory-queue' };
    const id = await createContext(url, {}, session);
    assert.ok((await startHeld(id, 'import time\ntime.sleep(600)', session)).runId);
    resetPeak();
    const before = memory();
    const answers = [];
    for (let i = 0; i < 40; i++) answers.push(await startHeld(id, BIG_CODE, session));
    const peak = memory().peak;
    const refused = answers.filter((answer) => answer.status === 429);
    console.log(
      `finding 2: service RSS ${before.rss} MB before, peak ${peak} MB; ${40 - refused.length} runs queued, ${refused.length} refused`,
    );
    assert.equal(answers.filter((answer) => answer.runId).length, 8, 'SANDBOX_MAX_QUEUED_RUNS (8) wait');
    assert.equal(refused.length, 32);
    assert.match(
      refused[0]!.text,
      /^too many runs: this context has 8 runs waiting behind the one it runs, at most 8 \(SANDBOX_MAX_QUEUED_RUNS\)/,
    );
    assert.ok(peak - before.rss < 150, `the service grew from ${before.rss} to ${peak} MB`);
    // Another session is not held up; stopping the context frees it all.
    const other = await createContext(url, {}, OTHER);
    assert.equal((await execute(url, { context_id: other, code: 'print(2)' }, OTHER)).stdout, '2\n');
    assert.equal((await request(url, 'DELETE', `/contexts/${id}`, undefined, session)).status, 200);
  });

  test("a session's waiting code is budgeted across its contexts (SANDBOX_QUEUED_CODE_MB, half for one session)", async () => {
    const session = { 'x-ci-session-id': 'shared-memory-budget' };
    const ids = await Promise.all([1, 2, 3].map(() => createContext(url, {}, session)));
    for (const id of ids) assert.ok((await startHeld(id, 'import time\ntime.sleep(600)', session)).runId);
    const answers = [];
    for (const id of ids) for (let i = 0; i < 4; i++) answers.push(await startHeld(id, BIG_CODE, session));
    // 32 MiB for one session: 8 runs of 4 MB wait, the 9th is refused.
    assert.equal(answers.filter((answer) => answer.runId).length, 8);
    assert.match(
      answers[8]!.text,
      /^too many runs: this session's waiting runs would hold 34\.3 MiB of code, at most 32 MiB \(SANDBOX_QUEUED_CODE_MB/,
    );
    for (const id of ids) await request(url, 'DELETE', `/contexts/${id}`, undefined, session);
  });

  test('a context with runs waiting is not removed as idle; once they are done, it is', async () => {
    const idle = await startSandbox({ port: 0, poolSize: 0, idleTimeoutSeconds: 1 });
    try {
      const session = { 'x-ci-session-id': 'shared-memory-idle' };
      const id = await createContext(idle.url, {}, session);
      const start = async (code: string) => {
        const response = await fetch(`${idle.url}/execute`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...session },
          body: JSON.stringify({ context_id: id, code, hold_after: 0.2 }),
        });
        const held = (await response.text()).split('\n').find((line) => line.includes('run_held'));
        assert.ok(held, 'held');
        return JSON.parse(held).run_id as string;
      };
      await start('import time\ntime.sleep(2.5)');
      const last = await start('import time\ntime.sleep(1.5)\nprint("ran")');
      // 4 s on, well past the idle timeout, the second run has ended in its context.
      const read = await request(idle.url, 'POST', `/runs/${last}/events`, { wait_seconds: 10, until: 'end' }, session);
      assert.equal(read.status, 200, read.text);
      assert.equal(read.json.events.find((event: { type: string }) => event.type === 'stdout')?.text, 'ran\n');
      assert.deepEqual(
        (await request(idle.url, 'GET', '/contexts', undefined, session)).json.map((context: { id: string }) => context.id),
        [id],
      );
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      assert.deepEqual((await request(idle.url, 'GET', '/contexts', undefined, session)).json, [], 'removed once idle');
    } finally {
      await idle.close();
    }
  });

  test('run_code past the limit: a tool failure of kind too_many_runs that names it', async () => {
    const mcp = await startMcp({ SANDBOX_URL: url });
    const client = await connect(mcp.url);
    try {
      const id = structured<{ context_id: string }>(await call(client, 'create_context')).context_id;
      const first = structured<{ status: string }>(
        await call(client, 'run_code', { context_id: id, code: 'import time\ntime.sleep(600)', wait_seconds: 0.2 }),
      );
      assert.equal(first.status, 'running');
      for (let i = 0; i < 8; i++) {
        const queued = await call(client, 'run_code', { context_id: id, code: 'x = 1', wait_seconds: 0.2 });
        assert.equal(structured<{ status: string }>(queued).status, 'running', textOf(queued));
      }
      const refused = await call(client, 'run_code', { context_id: id, code: 'x = 1', wait_seconds: 0.2 });
      assert.equal(refused.isError, true);
      assert.equal(structured<{ error: { kind: string } }>(refused).error.kind, 'too_many_runs');
      assert.match(textOf(refused), /too many runs: this context has 8 runs waiting .*SANDBOX_MAX_QUEUED_RUNS.*wait_run.*cancel_run/);
      await call(client, 'stop_context', { context_id: id });
    } finally {
      await client.close();
      await mcp.stop();
    }
  });
});

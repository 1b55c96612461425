// Runs longer than a request: run_code answers "running" after wait_seconds with the output so
// far and a run_id; the run goes on in the sandbox, and wait_run (through any server instance,
// even after the one that started it stopped) collects the rest once each and in order, ending
// with the result run_code would have given; cancel_run stops it; another tenant can neither
// wait on it nor cancel it. Real processes (two MCP servers, one sandbox service with a small
// output cap), real clients: the 1.x client at its default 60 s timeout, after listTools (so
// every answer is checked against the tools' output schemas), and the 2.x client in both eras.
// Durations are short (a wait of 1–2 s) where the property is the same as for a 150 s run.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { connect, type ERAS, startMcp, startTestSandbox, type McpProcess } from '../../support/mcp-harness.ts';

const ALICE = 'alice-token-0123456789abcdef';
const BOB = 'bob-token-0123456789abcdefgh';
const OUTPUT_LIMIT = 100_000;
let sandbox: RunningSandbox;
let first: McpProcess;
let second: McpProcess;
let env: Record<string, string>;

before(async () => {
  sandbox = await startTestSandbox({ outputLimitBytes: OUTPUT_LIMIT });
  env = { SANDBOX_URL: sandbox.url, MCP_AUTH_TOKEN: `alice:${ALICE},bob:${BOB}` };
  [first, second] = await Promise.all([startMcp(env), startMcp(env)]);
});

after(async () => {
  await Promise.all([first?.stop(), second?.stop()]);
  await sandbox?.close();
});

type Result = {
  isError?: boolean;
  content: { type: string; text?: string; mimeType?: string }[];
  structuredContent?: Record<string, unknown>;
};
type Output = {
  stdout: string;
  stderr: string;
  results: { is_main_result: boolean; text?: string; formats: string[] }[];
  error: { name: string; value: string } | null;
  status: 'done' | 'running';
  run_id?: string;
};
interface Caller {
  call(name: string, args: Record<string, unknown>): Promise<Result>;
  close(): Promise<void>;
}

const textOf = (result: Result) =>
  result.content
    .filter((c) => c.type === 'text')
    .map((c) => c.text)
    .join('\n');

function output(result: Result): Output {
  assert.ok(result.structuredContent, textOf(result));
  return result.structuredContent as Output;
}

/** The 1.x client with its defaults (60 s request timeout), tools listed first. */
async function v1(url: string, token: string): Promise<Caller> {
  const client = new ClientV1({ name: 'long-runs-1x', version: '1.0.0' });
  await client.connect(new TransportV1(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  await client.listTools();
  return {
    call: async (name, args) => (await client.callTool({ name, arguments: args })) as Result,
    close: () => client.close(),
  };
}

async function v2(url: string, token: string, era: (typeof ERAS)[number]): Promise<Caller> {
  const client = await connect(url, { authorization: `Bearer ${token}` }, era);
  await client.listTools();
  return {
    call: async (name, args) => (await client.callTool({ name, arguments: args })) as Result,
    close: () => client.close(),
  };
}

/** Calls wait_run until the run is done; every answer's output, in order. */
async function collect(caller: Caller, runId: string): Promise<{ answers: Output[]; final: Result }> {
  const answers: Output[] = [];
  for (;;) {
    const result = await caller.call('wait_run', { run_id: runId, wait_seconds: 2 });
    const answer = output(result);
    answers.push(answer);
    if (answer.status === 'done') return { answers, final: result };
    assert.equal(answer.run_id, runId);
  }
}

const TICKS = 'import time\nfor i in range(5):\n    print(f"tick {i}", flush=True)\n    time.sleep(0.7)\n';

const CLIENTS = {
  '1.x client': (url: string, token: string) => v1(url, token),
  '2.x client, 2026-07-28': (url: string, token: string) => v2(url, token, 'modern'),
  '2.x client, 2025 form': (url: string, token: string) => v2(url, token, 'legacy'),
};

for (const [name, open] of Object.entries(CLIENTS)) {
  describe(name, () => {
    let alice: Caller;
    let aliceElsewhere: Caller;
    let bob: Caller;
    before(async () => {
      [alice, aliceElsewhere, bob] = await Promise.all([open(first.url, ALICE), open(second.url, ALICE), open(second.url, BOB)]);
    });
    after(async () => {
      await Promise.all([alice, aliceElsewhere, bob].map((c) => c?.close()));
    });

    test('past wait_seconds: "running" with the output so far; wait_run on another instance collects the rest once, in order, charts included', async () => {
      const contextId = (output(await alice.call('create_context', {})) as unknown as { context_id: string }).context_id;
      const code = `${TICKS}import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()\nz = 6 * 7\nz`;
      const started = await alice.call('run_code', { context_id: contextId, code, wait_seconds: 1 });
      const first = output(started);
      assert.equal(started.isError, false, textOf(started));
      assert.equal(first.status, 'running');
      assert.match(first.run_id ?? '', /^run_/);
      assert.match(textOf(started), /wait_run/);
      assert.match(first.stdout, /^tick 0\n/);

      const { answers, final } = await collect(aliceElsewhere, first.run_id!);
      const all = [first, ...answers];
      assert.equal(all.map((a) => a.stdout).join(''), 'tick 0\ntick 1\ntick 2\ntick 3\ntick 4\n', 'every line exactly once, in order');
      const last = output(final);
      assert.equal(final.isError, false, textOf(final));
      assert.equal(last.error, null);
      assert.deepEqual(
        last.results.map((r) => [r.is_main_result, r.text]),
        [
          [false, '<Figure size 640x480 with 1 Axes>'],
          [true, '42'],
        ],
      );
      assert.ok(
        final.content.some((c) => c.type === 'image' && c.mimeType === 'image/png'),
        'the chart comes with the result',
      );

      // The same code without waiting gives the same result.
      const direct = output(await alice.call('run_code', { context_id: contextId, code, wait_seconds: 50 }));
      assert.equal(direct.status, 'done');
      assert.equal(direct.stdout, all.map((a) => a.stdout).join(''));
      assert.deepEqual(
        direct.results.map((r) => r.text),
        last.results.map((r) => r.text),
      );
      await alice.call('stop_context', { context_id: contextId });
    });

    test('cancel_run stops the run: no side effect, the context keeps its variables and answers at once', async () => {
      const contextId = (output(await alice.call('create_context', {})) as unknown as { context_id: string }).context_id;
      const started = output(
        await alice.call('run_code', {
          context_id: contextId,
          code: 'import time\nx = 1\nprint("go", flush=True)\ntime.sleep(30)\ny = 1',
          wait_seconds: 1,
        }),
      );
      assert.equal(started.status, 'running');

      const foreignWait = await bob.call('wait_run', { run_id: started.run_id, wait_seconds: 0 });
      assert.equal(foreignWait.isError, true);
      assert.match(textOf(foreignWait), /unknown run/);
      const foreignCancel = await bob.call('cancel_run', { run_id: started.run_id });
      assert.equal(foreignCancel.isError, true);
      assert.match(textOf(foreignCancel), /unknown run/);

      const cancelled = await aliceElsewhere.call('cancel_run', { run_id: started.run_id });
      assert.notEqual(cancelled.isError, true, textOf(cancelled));
      const { final } = await collect(alice, started.run_id!);
      assert.equal(output(final).error?.name, 'CancelledError');
      const check = output(await alice.call('run_code', { context_id: contextId, code: 'print(x, globals().get("y"))' }));
      assert.equal(check.stdout, '1 None\n');
      await alice.call('stop_context', { context_id: contextId });
    });

    test('a held run with far more output than the cap is cut with a note', async () => {
      const started = output(
        await alice.call('run_code', {
          code: 'import time\ntime.sleep(1.5)\nfor i in range(10000):\n    print("x" * 40)',
          wait_seconds: 1,
        }),
      );
      assert.equal(started.status, 'running');
      const { answers, final } = await collect(alice, started.run_id!);
      const stdout = answers.map((a) => a.stdout).join('');
      assert.ok(stdout.length <= OUTPUT_LIMIT, `at most the cap (${stdout.length})`);
      const last = output(final);
      assert.equal(last.error?.name, 'OutputLimitExceeded', JSON.stringify(last).slice(0, 2000));
      assert.match(answers.map((a) => a.stderr).join(''), /output truncated/);
    });

    test('a one-off run may run long; its context goes once the result is collected', async () => {
      const listed = async () => (output(await alice.call('list_contexts', {})) as unknown as { contexts: unknown[] }).contexts.length;
      const before = await listed();
      const started = output(
        await alice.call('run_code', { language: 'python', code: 'import time\ntime.sleep(2)\nprint("late")', wait_seconds: 1 }),
      );
      assert.equal(started.status, 'running');
      assert.equal(await listed(), before + 1, 'the one-off context lives (and counts) while its run is not collected');
      const { answers } = await collect(alice, started.run_id!);
      assert.equal(answers.map((a) => a.stdout).join(''), 'late\n');
      assert.equal(await listed(), before);
    });
  });
}

test('a server restart between run_code and wait_run loses nothing the sandbox holds', async () => {
  const third = await startMcp(env);
  const starter = await v1(third.url, ALICE);
  const started = output(
    await starter.call('run_code', { code: 'import time\nprint("a", flush=True)\ntime.sleep(2)\nprint("b")', wait_seconds: 1 }),
  );
  await starter.close();
  await third.stop();
  const other = await v1(first.url, ALICE);
  const { answers } = await collect(other, started.run_id!);
  assert.equal(started.stdout + answers.map((a) => a.stdout).join(''), 'a\nb\n');
  await other.close();
});

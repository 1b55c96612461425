/**
 * Time, output and lifecycle of contexts: timeouts, client disconnects, output
 * floods, dying kernels, the context limit, the pool, idle removal, and that no
 * kernel process outlives DELETE or close().
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseExecutionEvent } from '../../../src/protocol/sandbox-api.ts';
import { startSandbox, type RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { launchPythonKernel } from '../../../src/sandbox-service/kernels/python-kernel.ts';
import { eventually } from '../../support/eventually.ts';
import { commandLine, pidNamespace, processesIn, sandboxNamespaces } from '../../support/processes.ts';
import { createContext, execute, request } from '../../support/sandbox-support.ts';

const OUTPUT_LIMIT = 20_000;
const MAX_CONTEXTS = 4;

let sandbox: RunningSandbox;
let url: string;

before(async () => {
  sandbox = await startSandbox({ port: 0, poolSize: 1, outputLimitBytes: OUTPUT_LIMIT, maxContexts: MAX_CONTEXTS });
  url = sandbox.url;
});
after(async () => {
  await sandbox.close();
});

function describeProcess(pid: number): string {
  return `${pid} ${commandLine(pid) || '(gone)'}`;
}

/**
 * The pid namespaces of this sandbox's kernels: those whose /run/kernel is one of its run
 * directories. Any other sandbox's kernels (the file's shared one refills its pool while a
 * test runs; other test files run beside this one) are not this one's to check.
 */
function kernelNamespaces(of: RunningSandbox): Set<string> {
  const runRoot = join(of.workspaceRoot, 'run');
  const identity = (path: string) => {
    const { dev, ino } = statSync(path);
    return `${dev}:${ino}`;
  };
  const runDirs = new Set(existsSync(runRoot) ? readdirSync(runRoot).map((name) => identity(join(runRoot, name))) : []);
  const namespaces = new Set<string>();
  for (const pid of processesIn(sandboxNamespaces())) {
    try {
      if (runDirs.has(identity(`/proc/${pid}/root/run/kernel`))) namespaces.add(pidNamespace(pid)!);
    } catch {
      // gone meanwhile, or not a kernel's
    }
  }
  return namespaces;
}

/** Contexts each test makes are deleted again, so the limit test sees a known count. */
async function withContext<T>(
  body: (id: string) => Promise<T>,
  create: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<T> {
  const id = await createContext(url, create, headers);
  try {
    return await body(id);
  } finally {
    await request(url, 'DELETE', `/contexts/${id}`, undefined, headers);
  }
}

describe('sandbox lifecycle', () => {
  test('a timeout interrupts the code, reports TimeoutError, and the context keeps its variables', async () => {
    await withContext(async (id) => {
      await execute(url, { code: 'kept = 41', context_id: id });
      const run = await execute(url, { code: 'import time\nprint("started")\ntime.sleep(60)', context_id: id, timeout: 1 });
      assert.equal(run.stdout, 'started\n');
      assert.equal(run.error?.name, 'TimeoutError');
      assert.match(run.error!.value, /timeout of 1 s/);
      assert.equal(run.events.filter((event) => event.type === 'error').length, 1, 'only our error, not KeyboardInterrupt');
      assert.deepEqual(run.events.at(-1), { type: 'end_of_execution' });
      const after = await execute(url, { code: 'kept + 1', context_id: id });
      assert.equal(after.results[0]?.text, '42');
    });
  });

  test('code that ignores the interrupt is stopped by a kernel restart, and the error says the state is lost', async () => {
    await withContext(async (id) => {
      const run = await execute(url, {
        code: 'import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass',
        context_id: id,
        timeout: 1,
      });
      assert.equal(run.error?.name, 'TimeoutError');
      assert.match(run.error!.value, /restarted: its variables are lost/);
      const after = await execute(url, { code: '"alive"', context_id: id });
      assert.equal(after.results[0]?.text, 'alive');
    });
  });

  test('a client that disconnects mid-stream gets the kernel interrupted', async () => {
    await withContext(async (id) => {
      const abort = new AbortController();
      const response = await fetch(`${url}/execute`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          code: 'import time\nprint("started", flush=True)\nfor i in range(600):\n    time.sleep(0.1)',
          context_id: id,
        }),
        signal: abort.signal,
      });
      const reader = response.body!.getReader();
      let text = '';
      while (!text.includes('started')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString();
      }
      abort.abort();
      // Were the loop not interrupted, this would wait for it to finish and see i == 599.
      const after = await execute(url, { code: 'i', context_id: id });
      assert.equal(after.error, undefined, after.error?.traceback);
      assert.ok(Number(after.results[0]?.text) < 599, `i = ${after.results[0]?.text}`);
    });
  });

  test('code whose client left while it waited its turn is not run', async () => {
    await withContext(async (id) => {
      const first = execute(url, { code: 'import time\ntime.sleep(1.5)\n"first"', context_id: id });
      const abort = new AbortController();
      const queued = await fetch(`${url}/execute`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ code: 'ran_queued = True', context_id: id }),
        signal: abort.signal,
      });
      assert.equal(queued.status, 200);
      abort.abort();
      assert.equal((await first).results[0]?.text, 'first');
      const check = await execute(url, { code: '"ran_queued" in globals()', context_id: id });
      assert.equal(check.results[0]?.text, 'False');
    });
  });

  test('an output flood is cut at the limit with a marker, stopped, and the context still works', async () => {
    await withContext(async (id) => {
      const run = await execute(url, { code: 'n = 0\nwhile True:\n    n += 1\n    print("x" * 1000)', context_id: id });
      assert.ok(run.stdout.length <= OUTPUT_LIMIT, `stdout ${run.stdout.length} bytes`);
      assert.ok(run.stdout.length > OUTPUT_LIMIT / 2, 'output up to the limit is kept');
      assert.match(run.stderr, /\[output truncated: this execution exceeded the limit of 20000 bytes\]/);
      assert.equal(run.error?.name, 'OutputLimitExceeded');
      assert.deepEqual(run.events.at(-1), { type: 'end_of_execution' });
      const after = await execute(url, { code: 'n > 0', context_id: id });
      assert.equal(after.results[0]?.text, 'True');
    });
  });

  test('one huge print is cut too', async () => {
    const run = await execute(url, { code: 'print("y" * 5_000_000)' });
    assert.ok(run.stdout.length <= OUTPUT_LIMIT);
    assert.match(run.stderr, /output truncated/);
  });

  test('concurrent executions on one context run one after another, each with its own output', async () => {
    await withContext(async (id) => {
      const runs = await Promise.all(
        ['a', 'b', 'c'].map((tag) =>
          execute(url, { code: `import time\nfor _ in range(3):\n    print("${tag}")\n    time.sleep(0.05)`, context_id: id }),
        ),
      );
      assert.deepEqual(
        runs.map((run) => run.stdout),
        ['a\na\na\n', 'b\nb\nb\n', 'c\nc\nc\n'],
      );
    });
  });

  test('a dying kernel gives a KernelDiedError; the context is restarted with a fresh kernel', async () => {
    await withContext(async (id) => {
      await execute(url, { code: 'before = 1', context_id: id });
      const run = await execute(url, { code: 'import os\nos._exit(1)', context_id: id });
      assert.equal(run.error?.name, 'KernelDiedError');
      assert.match(run.error!.value, /exit code 1/);
      assert.deepEqual(run.events.at(-1), { type: 'end_of_execution' });
      const lost = await execute(url, { code: 'before', context_id: id });
      assert.equal(lost.error?.name, 'NameError');
      const works = await execute(url, { code: '2 * 21', context_id: id });
      assert.equal(works.results[0]?.text, '42');
      const listed = await request(url, 'GET', '/contexts');
      assert.ok(listed.json.some((context: { id: string }) => context.id === id));
    });
  });

  test('running out of memory is an error, not a dead server', async () => {
    const run = await execute(url, { code: 'hog = bytearray(8 * 1024 ** 3)' });
    assert.equal(run.error?.name, 'MemoryError');
    assert.equal((await execute(url, { code: '1' })).results[0]?.text, '1');
  });

  test('DELETE kills the whole process tree, children and daemonised grandchildren included', async () => {
    const id = await createContext(url);
    let namespace: Set<string>;
    try {
      const run = await execute(url, {
        code:
          'import os, subprocess\n' +
          'subprocess.Popen(["sleep", "1000"])\n' +
          'subprocess.Popen(["setsid", "sh", "-c", "sleep 1000 & sleep 1000"], start_new_session=True)\n' +
          'print(os.readlink("/proc/self/ns/pid"))',
        context_id: id,
      });
      assert.equal(run.error, undefined, run.error?.traceback);
      namespace = new Set([run.stdout.trim()]);
      assert.ok(await eventually(() => processesIn(namespace).length >= 5), `processes: ${processesIn(namespace)}`);
    } finally {
      assert.equal((await request(url, 'DELETE', `/contexts/${id}`)).status, 200);
    }
    assert.deepEqual(processesIn(namespace).map(describeProcess), []);
  });

  test('the context limit gives a clear error; deleting a context makes room', async () => {
    const listed = await request(url, 'GET', '/contexts');
    // E2B's default contexts are listed before they exist (no created_at): they hold no kernel.
    const existing = listed.json.filter((context: { created_at?: string }) => context.created_at).length as number;
    const made: string[] = [];
    for (let i = existing; i < MAX_CONTEXTS; i++) made.push(await createContext(url));
    const refused = await request(url, 'POST', '/contexts', {});
    assert.equal(refused.status, 429);
    assert.match(refused.text, /context limit reached: this sandbox holds at most 4 contexts/);
    assert.equal((await request(url, 'DELETE', `/contexts/${made.pop()!}`)).status, 200);
    made.push(await createContext(url));
    for (const id of made) await request(url, 'DELETE', `/contexts/${id}`);
  });
});

describe('sandbox shutdown, pool and idle removal', () => {
  test('a pooled kernel was started before the request that gets it', async () => {
    const own = await startSandbox({ port: 0, poolSize: 1 });
    try {
      // Let the pool's first spare come up (no timing asserted: we only wait for it).
      await eventually(() => sandboxNamespaces().size > 0);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const asked = Date.now();
      const id = await createContext(own.url);
      const run = await execute(own.url, {
        code: 'import os\nticks = os.sysconf("SC_CLK_TCK")\nstart = int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19])\nfloat(open("/proc/uptime").read().split()[0]) - start / ticks',
        context_id: id,
      });
      const age = Number(run.results[0]?.text);
      const sinceAsked = (Date.now() - asked) / 1000;
      assert.ok(age > sinceAsked, `kernel age ${age} s, request ${sinceAsked} s ago`);
    } finally {
      await own.close();
    }
  });

  test('a spare taken by a new context is replaced (after a short delay)', async () => {
    const own = await startSandbox({ port: 0, poolSize: 1 });
    // Each kernel of this sandbox has a run directory of its own (removed when it stops).
    const runRoot = join(own.workspaceRoot, 'run');
    const mine = () => (existsSync(runRoot) ? readdirSync(runRoot, { withFileTypes: true }).filter((e) => e.isDirectory()).length : 0);
    try {
      assert.ok(await eventually(() => mine() === 1), 'the first spare comes up');
      const id = await createContext(own.url);
      assert.ok(await eventually(() => mine() === 2), 'the context keeps its kernel and a new spare comes up');
      assert.equal((await execute(own.url, { code: '1+1', context_id: id })).results[0]?.text, '2');
    } finally {
      await own.close();
    }
  });

  test('idle contexts are removed after the idle timeout', async () => {
    const own = await startSandbox({ port: 0, poolSize: 0, idleTimeoutSeconds: 1 });
    try {
      const id = await createContext(own.url);
      const live = async () =>
        (await request(own.url, 'GET', '/contexts')).json.filter((context: { created_at?: string }) => context.created_at);
      assert.ok(await eventually(async () => (await live()).length === 0));
      assert.equal((await execute(own.url, { code: '1', context_id: id })).status, 404);
    } finally {
      await own.close();
    }
  });

  test('close() leaves no kernel process behind, busy or idle, pooled or not', async () => {
    const own = await startSandbox({ port: 0, poolSize: 2 });
    const id = await createContext(own.url);
    await execute(own.url, { code: 'import subprocess\nsubprocess.Popen(["sleep", "1000"])', context_id: id });
    const busy = fetch(`${own.url}/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code: 'import time\ntime.sleep(1000)', context_id: id }),
    })
      .then((response) => response.text())
      .catch(() => '');
    await createContext(own.url, {}, { 'x-ci-session-id': 'other' });
    const mine = () => kernelNamespaces(own);
    // Two contexts and, once the pool has replaced what they took, a spare.
    assert.ok(await eventually(() => mine().size >= 3), `${mine().size} sandboxes`);
    const namespaces = mine();
    await own.close();
    assert.deepEqual(processesIn(namespaces).map(describeProcess), []);
    const streamed = await busy;
    for (const line of streamed.split('\n').filter(Boolean)) parseExecutionEvent(line);
  });
});

describe('a creation whose caller left', () => {
  test('is undone once its kernel is up: the context, its workspace and its kernel go; a caller that stays gets one', async () => {
    // The kernel's start waits for the gate, so the caller can leave while it is under way.
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    let launched!: () => void;
    const launching = new Promise<void>((resolve) => (launched = resolve));
    const own = await startSandbox(
      { port: 0, poolSize: 0 },
      {
        launchers: {
          python: async (options) => {
            launched();
            await gate;
            return launchPythonKernel(options);
          },
        },
      },
    );
    const session = 'left-while-creating';
    const headers = { 'x-ci-session-id': session };
    try {
      const abort = new AbortController();
      const creating = fetch(`${own.url}/contexts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: '{}',
        signal: abort.signal,
      });
      await launching;
      abort.abort();
      await assert.rejects(creating);
      await new Promise((resolve) => setTimeout(resolve, 100)); // the server sees the connection close
      openGate();
      assert.ok(await eventually(async () => (await own.workspaceOf(session)) === undefined), "the session's workspace is gone");
      assert.deepEqual((await request(own.url, 'GET', '/contexts', undefined, headers)).json, []);
      const id = await createContext(own.url, {}, headers);
      assert.equal((await execute(own.url, { code: '6 * 7', context_id: id }, headers)).results[0]?.text, '42');
    } finally {
      openGate();
      await own.close();
    }
  });
});

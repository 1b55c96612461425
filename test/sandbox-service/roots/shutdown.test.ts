/**
 * A server stopped by a signal to its whole process group, as service managers
 * and container engines stop it, at any moment (runs in flight or idle), leaves nothing:
 * no mount, loop device, workspace root or cgroup of it, in every trial. Runs through npm,
 * whose wrappers were the cause (the tsx CLI SIGKILLed a server busy with output), as root.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { readLines } from '../../../src/mcp-server/sandbox-client/execution.ts';
import { parseExecutionEvent, type ExecutionEvent } from '../../../src/protocol/sandbox-api.ts';
import { sweepRoot } from '../../../src/sandbox-service/roots/leftovers.ts';
import { eventually } from '../../support/eventually.ts';
import { groupAlive, HEADERS, leftovers, type ServerProcess, startServer } from '../../support/shutdown-support.ts';

const started: ServerProcess[] = [];
after(async () => {
  for (const server of started) {
    if (groupAlive(server.child.pid!)) process.kill(-server.child.pid!, 'SIGKILL');
  }
  for (const server of started) await sweepRoot(server.tmp, { removeRoot: true }); // whatever a failed trial left
});

async function createContext(url: string, language: string): Promise<string> {
  const response = await fetch(`${url}/contexts`, { method: 'POST', headers: HEADERS, body: JSON.stringify({ language }) });
  assert.equal(response.status, 200, await response.clone().text());
  return ((await response.json()) as { id: string }).id;
}

/** Starts an execution; resolves `begun` once its first output arrives, `events` once it ends. */
function execute(url: string, contextId: string, code: string) {
  let begin!: () => void;
  const begun = new Promise<void>((resolve) => (begin = resolve));
  const events = (async () => {
    const collected: ExecutionEvent[] = [];
    try {
      const response = await fetch(`${url}/execute`, {
        method: 'POST',
        headers: HEADERS,
        body: JSON.stringify({ context_id: contextId, code }),
      });
      for await (const line of readLines(response.body!)) {
        const event = parseExecutionEvent(line);
        if (!event) continue;
        collected.push(event);
        if (event.type === 'stdout') begin();
      }
    } catch (error) {
      collected.push({ type: 'error', name: 'ConnectionLost', value: String(error), traceback: '' });
    }
    begin();
    return collected;
  })();
  return { begun, events };
}

const PRINTING = 'import time\nfor i in range(600):\n    print(i, flush=True)\n    time.sleep(0.1)';
const SLEEPING_JS = 'console.log("waiting"); await new Promise((resolve) => setTimeout(resolve, 60000)); 1';

interface Trial {
  script: 'start' | 'sandbox';
  signal: NodeJS.Signals;
  /** What runs when the signal comes. */
  runs: 'python' | 'python+javascript' | 'idle';
  /** After the first output, how long until the signal. */
  afterMs: number;
}

const TRIALS: Trial[] = [
  { script: 'start', signal: 'SIGTERM', runs: 'python+javascript', afterMs: 0 },
  { script: 'start', signal: 'SIGTERM', runs: 'python+javascript', afterMs: 1500 },
  { script: 'start', signal: 'SIGINT', runs: 'python', afterMs: 700 },
  { script: 'start', signal: 'SIGTERM', runs: 'idle', afterMs: 0 },
  { script: 'sandbox', signal: 'SIGTERM', runs: 'python+javascript', afterMs: 300 },
  { script: 'sandbox', signal: 'SIGTERM', runs: 'python', afterMs: 2500 },
  { script: 'sandbox', signal: 'SIGHUP', runs: 'python+javascript', afterMs: 1000 },
];

for (const [index, trial] of TRIALS.entries()) {
  test(`trial ${index + 1}: npm run ${trial.script}, ${trial.signal} to the process group, ${trial.runs}${trial.runs === 'idle' ? '' : ` (${trial.afterMs} ms into the output)`}: nothing of it remains`, async () => {
    const server = await startServer({ npm: trial.script });
    started.push(server);
    const serverPid = server.serverPid();
    const executions: ReturnType<typeof execute>[] = [];
    if (trial.runs === 'idle') {
      await createContext(server.url, 'python');
    } else {
      executions.push(execute(server.url, await createContext(server.url, 'python'), PRINTING));
      if (trial.runs === 'python+javascript')
        executions.push(execute(server.url, await createContext(server.url, 'javascript'), SLEEPING_JS));
      await Promise.all(executions.map((execution) => execution.begun));
      await new Promise((resolve) => setTimeout(resolve, trial.afterMs));
    }
    assert.notDeepEqual(leftovers(server.tmp), [], 'the server has mounted its workspaces');

    process.kill(-server.child.pid!, trial.signal);
    const [code] = await server.exited;
    assert.ok(await eventually(() => !groupAlive(server.child.pid!)), 'every process of the group has ended');

    assert.deepEqual(leftovers(server.tmp, serverPid), []);
    // npm forwards SIGTERM and SIGINT and exits as the server did; SIGHUP ends npm itself at once (the server's line says how it went).
    if (trial.signal !== 'SIGHUP') assert.equal(code, 0, server.output());
    assert.match(server.output(), new RegExp(`stopped on ${trial.signal} in \\d+\\.\\d s`));
    for (const execution of executions) {
      const events = await execution.events;
      const error = events.find((event) => event.type === 'error');
      assert.ok(error, 'the run in flight ended with an error');
      assert.match(String(error.value), /sandbox is shutting down/);
    }
  });
}

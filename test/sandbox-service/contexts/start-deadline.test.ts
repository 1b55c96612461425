/**
 * A context's creation has one deadline (CONTEXT_START_TIMEOUT_SECONDS, protocol/limits.ts):
 * the sandbox answers by then with its reason, and the MCP side waits past it for that answer.
 * Before, the MCP side gave up after its general 15 s request timeout while the sandbox gave a
 * Python or R kernel 30 s to start and 30 more to answer: under load the agent got "did not
 * answer in time" (once in CI, an R context in the image), never why.
 *
 * Against a real sandbox whose kernel launch is held at a gate and the MCP side's real sandbox
 * client, its general request timeout shorter than the sandbox's deadline.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Refusal } from '../../../src/mcp-server/refusal.ts';
import { createSandboxClient } from '../../../src/mcp-server/sandbox-client/client.ts';
import { startSandbox } from '../../../src/sandbox-service/index.ts';
import { launchPythonKernel } from '../../../src/sandbox-service/kernels/python-kernel.ts';
import { eventually } from '../../support/eventually.ts';
import { execute, request } from '../../support/sandbox-support.ts';

/** Long enough for the second creation's real kernel to start with another test file beside this one (1 s was not). */
const DEADLINE_SECONDS = 5;

test('a creation past its deadline is refused with the reason, reaches the MCP side whole, and is undone once its kernel is up', async () => {
  let openGate!: () => void;
  const gate = new Promise<void>((resolve) => (openGate = resolve));
  let launches = 0;
  const sandbox = await startSandbox(
    { port: 0, poolSize: 0, contextStartTimeoutSeconds: DEADLINE_SECONDS },
    {
      launchers: {
        python: async (options) => {
          if (launches++ === 0) await gate;
          return launchPythonKernel(options);
        },
      },
    },
  );
  const session = 'start-deadline';
  const headers = { 'x-ci-session-id': session };
  try {
    // Its general timeout (0.5 s) is shorter than the sandbox's deadline: a creation waits for the latter.
    const client = createSandboxClient({ baseUrl: sandbox.url, sessionHeader: 'x-ci-session-id', requestTimeoutMs: 500, retries: 0 });
    const started = performance.now();
    const refused = await client.createContext(session, { language: 'python' }).then(
      () => assert.fail('the creation succeeded past its deadline'),
      (error: unknown) => error,
    );
    const waited = performance.now() - started;
    assert.ok(refused instanceof Refusal, `a Refusal, not ${refused}`);
    assert.equal(refused.kind, 'sandbox_timeout');
    assert.match(refused.message, new RegExp(`the python context did not start within ${DEADLINE_SECONDS} s`));
    assert.ok(waited >= DEADLINE_SECONDS * 1000 - 100, `answered after ${waited.toFixed(0)} ms, before the sandbox's deadline`);
    assert.equal(refused.status, 504);

    // Nothing of it is left once the kernel comes up: no context, no workspace.
    openGate();
    assert.ok(await eventually(async () => (await sandbox.workspaceOf(session)) === undefined), "the session's workspace is gone");
    assert.deepEqual((await request(sandbox.url, 'GET', '/contexts', undefined, headers)).json, []);

    // The next one starts in time and runs.
    const context = await client.createContext(session, { language: 'python' });
    assert.equal((await execute(sandbox.url, { code: '6 * 7', context_id: context.id }, headers)).results[0]?.text, '42');
  } finally {
    openGate();
    await sandbox.close();
  }
});

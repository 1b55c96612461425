/**
 * E2B's official client, @e2b/code-interpreter, drives the sandbox service: proof
 * that the protocol matches. In debug mode the client makes no cloud call; it sends
 * code-interpreter requests to the sandbox URL it is given (its `sandboxUrl` option).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { useE2bDebugSandbox } from '../../support/e2b-debug-sandbox.ts';

const e2b = useE2bDebugSandbox();

describe("E2B's official client against the sandbox service", () => {
  test('runCode returns logs and the main result', async () => {
    const execution = await e2b.client.runCode('x = 41\nprint("hello")\nx + 1');
    assert.deepEqual(execution.logs.stdout, ['hello\n']);
    assert.equal(execution.text, '42');
    assert.equal(execution.error, undefined);
    assert.equal(execution.executionCount, 1);
  });

  test('state persists in the default context', async () => {
    const execution = await e2b.client.runCode('x * 2');
    assert.equal(execution.text, '82');
  });

  test('errors arrive as ExecutionError with name, value and traceback', async () => {
    const execution = await e2b.client.runCode('raise KeyError("missing")');
    assert.equal(execution.error?.name, 'KeyError');
    assert.equal(execution.error?.value, "'missing'");
    assert.match(execution.error!.traceback, /KeyError/);
  });

  test('charts and tables arrive as png and html results; streaming callbacks fire', async () => {
    const stdout: string[] = [];
    const execution = await e2b.client.runCode(
      'import matplotlib.pyplot as plt, pandas as pd\nprint("plotting")\nplt.plot([1, 2], [3, 4])\nplt.show()\npd.DataFrame({"a": [1]})',
      { onStdout: (message) => void stdout.push(message.line) },
    );
    assert.deepEqual(stdout, ['plotting\n']);
    const png = execution.results.find((result) => result.png);
    assert.ok(png && !png.isMainResult);
    assert.ok(Buffer.from(png.png!, 'base64').subarray(1, 4).toString() === 'PNG');
    const table = execution.results.find((result) => result.isMainResult);
    assert.match(table?.html ?? '', /<table/);
  });

  test('contexts: create, run in, list, restart, remove', async () => {
    const context = await e2b.client.createCodeContext({ language: 'python' });
    assert.equal(context.language, 'python');
    assert.equal(context.cwd, '/home/user');
    await e2b.client.runCode('y = 5', { context });
    assert.equal((await e2b.client.runCode('y', { context })).text, '5');
    const listed = await e2b.client.listCodeContexts();
    assert.ok(listed.some((c) => c.id === context.id));
    await e2b.client.restartCodeContext(context);
    assert.equal((await e2b.client.runCode('y', { context })).error?.name, 'NameError');
    await e2b.client.removeCodeContext(context);
    assert.ok(!(await e2b.client.listCodeContexts()).some((c) => c.id === context.id));
  });

  test('JavaScript and TypeScript run too', async () => {
    const js = await e2b.client.runCode('[1, 2].map((n) => n * 10)', { language: 'js' });
    assert.equal(js.text, '[ 10, 20 ]');
    const ts = await e2b.client.runCode('const n: number = 7; n * 6', { language: 'ts' });
    assert.equal(ts.text, '42');
  });

  test('per-execution environment variables', async () => {
    const execution = await e2b.client.runCode('import os\nos.environ["ONLY_HERE"]', { envs: { ONLY_HERE: 'yes' } });
    assert.equal(execution.text, 'yes');
  });
});

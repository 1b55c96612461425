/**
 * A Python kernel starts without what a sandbox never uses (python-kernel-start.py: debugpy,
 * jedi, IPython's terminal and prompt_toolkit, the history's SQLite file and thread), which keeps a
 * context's memory down (bench/density.bench.ts); code that imports any of them still gets
 * them, and what a cell sees of its kernel is as before: counts from 1, `_`, In/Out.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type RunningSandbox, startSandbox } from '../../../src/sandbox-service/index.ts';
import { createContext, execute } from '../../support/sandbox-support.ts';

const S = { 'x-ci-session-id': 'python-kernel-start' };
let sandbox: RunningSandbox;
let id: string;

before(async () => {
  sandbox = await startSandbox({ port: 0, poolSize: 0 });
  id = await createContext(sandbox.url, { language: 'python' }, S);
});
after(async () => {
  await sandbox?.close();
});

const run = async (code: string) => {
  const execution = await execute(sandbox.url, { code, context_id: id }, S);
  assert.equal(execution.error, undefined, execution.error?.traceback);
  return execution;
};

test('the first cell counts 1 and finds none of the unused modules loaded, nor the start script in the environment, with the launcher as argv[0]', async () => {
  const first = await run(
    'import sys, os, threading\n' +
      'sorted(m for m in ("debugpy", "jedi", "prompt_toolkit", "pydevd", "pkg_resources", "IPython.terminal.interactiveshell") if m in sys.modules), ' +
      '"SANDBOX_PYTHON_START" in os.environ, sorted(t.name for t in threading.enumerate() if "History" in type(t).__name__), ' +
      'sys.argv[0].endswith("ipykernel_launcher.py")',
  );
  assert.deepEqual(
    first.events.find((event) => event.type === 'number_of_executions'),
    { type: 'number_of_executions', execution_count: 1 },
  );
  assert.equal(first.results[0]?.text, '([], False, [], True)');
});

test('the cell history and the last result work as in any IPython', async () => {
  await run('2 + 3');
  assert.equal((await run('_ * 2')).results[0]?.text, '10');
  assert.match((await run('Out[max(Out)] + len(In)')).results[0]?.text ?? '', /^\d+$/);
  assert.match((await run('In[-2]')).results[0]?.text ?? '', /Out\[max\(Out\)\]/);
});

test('code that imports them gets them: jedi, debugpy, the terminal with IPython.embed', async () => {
  const loaded = await run(
    'import jedi, debugpy, IPython\n' +
      'from IPython.terminal.embed import InteractiveShellEmbed\n' +
      'import IPython.terminal.embed as embed_module\n' +
      '(jedi.__name__, debugpy.__name__, InteractiveShellEmbed.__name__, callable(IPython.embed), embed_module.embed.__module__)',
  );
  assert.equal(loaded.results[0]?.text, "('jedi', 'debugpy', 'InteractiveShellEmbed', True, 'IPython.terminal.embed')");
});

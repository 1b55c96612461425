/**
 * What E2B's own test suite (e2b-dev/code-interpreter, js/tests) expects of a sandbox, checked
 * with E2B's official client (@e2b/code-interpreter in debug mode, which talks to
 * http://localhost:49999) against the embedded sandbox with real kernels: one test per thing
 * that suite found missing, written here in our own words.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Sandbox } from '@e2b/code-interpreter';
import { startSandbox, type RunningSandbox } from '../src/local-sandbox/index.ts';

const E2B_DEBUG_PORT = 49999;

let sandbox: RunningSandbox;
let client: Sandbox;

before(async () => {
  sandbox = await startSandbox({ host: '127.0.0.1', port: E2B_DEBUG_PORT, poolSize: 1 });
  client = await Sandbox.create({ debug: true });
});
after(async () => {
  await sandbox?.close();
});

describe('JavaScript and TypeScript as E2B returns them', () => {
  test('a string value comes back without its quotes, also after top-level await', async () => {
    const awaited = await client.runCode('await new Promise((resolve) => setTimeout(() => resolve("Hello World!"), 10))', {
      language: 'js',
    });
    assert.equal(awaited.error, undefined, awaited.error?.traceback);
    assert.equal(awaited.text, 'Hello World!');
    const env = await client.runCode('Deno.env.get("FOO")', { language: 'ts', envs: { FOO: 'bar' } });
    assert.equal(env.text, 'bar');
    // Only one pair goes, as E2B's server strips it: a string holding quotes keeps its own.
    const quoted = await client.runCode('JSON.stringify("x")', { language: 'js' });
    assert.equal(quoted.text, '"x"');
  });

  test('bytes written to Deno.stdout and Deno.stderr are captured, in order with console output', async () => {
    const stdout: string[] = [];
    const execution = await client.runCode(
      'console.log("one");\nDeno.stdout.writeSync(new TextEncoder().encode("two\\n"));\nawait Deno.stderr.write(new TextEncoder().encode("three\\n"));\nconsole.log("four");',
      { language: 'js', onStdout: (message) => void stdout.push(message.line) },
    );
    assert.equal(execution.error, undefined, execution.error?.traceback);
    assert.deepEqual(execution.logs.stdout, ['one\n', 'two\n', 'four\n']);
    assert.deepEqual(execution.logs.stderr, ['three\n']);
    assert.deepEqual(stdout, ['one\n', 'two\n', 'four\n']);
  });

  test('a syntax error carries the parser message and its position; the context goes on', async () => {
    const context = await client.createCodeContext({ language: 'ts' });
    await client.runCode('const kept: number = 41;', { context });
    const execution = await client.runCode('const ok = 1;\nconst x = ;', { context });
    assert.equal(execution.error?.name, 'SyntaxError');
    assert.match(execution.error!.value, /Expression expected \(line 2, column 11\)/);
    assert.match(execution.error!.traceback, /const x = ;/);
    assert.equal((await client.runCode('kept + 1', { context })).text, '42');
    // A runtime error is untouched: its own name, message and stack.
    const thrown = await client.runCode('throw new RangeError("too far")', { context });
    assert.equal(thrown.error?.name, 'RangeError');
    assert.equal(thrown.error?.value, 'too far');
  });
});

describe('Python results and contexts as E2B has them', () => {
  test('a DataFrame result carries its columns as data', async () => {
    const execution = await client.runCode('import pandas as pd\npd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})');
    assert.equal(execution.error, undefined, execution.error?.traceback);
    assert.deepEqual(execution.results[0]?.data, { a: [1, 2, 3], b: ['x', 'y', 'z'] });
    assert.match(execution.results[0]?.html ?? '', /<table/);
  });

  test('a PIL image saved to a file is also shown as a png result, and the file is written', async () => {
    const execution = await client.runCode(
      'import numpy, os\nfrom PIL import Image\nImage.fromarray((numpy.random.rand(8, 8, 3) * 255).astype("uint8")).save("saved.png")\nos.path.getsize("saved.png") > 0',
    );
    assert.equal(execution.error, undefined, execution.error?.traceback);
    const png = execution.results.find((result) => result.png);
    assert.ok(png, 'a png result');
    assert.equal(Buffer.from(png.png!, 'base64').subarray(1, 4).toString(), 'PNG');
    assert.equal(execution.text, 'True');
  });

  test('default python and javascript contexts are listed before first use, and their ids work', async () => {
    const listed = await client.listCodeContexts();
    const languages = listed.map((context) => context.language);
    assert.ok(languages.includes('python') && languages.includes('javascript'), languages.join(', '));
    const javascript = listed.find((context) => context.language === 'javascript')!;
    await client.runCode('globalThis.seen = 5', { context: javascript });
    // The same context serves code sent with only the language.
    assert.equal((await client.runCode('seen * 2', { language: 'javascript' })).text, '10');
    assert.ok((await client.listCodeContexts()).some((context) => context.id === javascript.id));
    const created = await client.createCodeContext();
    const again = await client.listCodeContexts();
    assert.equal(again.at(-1)?.id, created.id, 'a new context is listed last');
  });
});

describe('bash and R contexts', () => {
  test('bash: state (cwd, variables, functions) persists between runs; output and exit status come back', async () => {
    const context = await client.createCodeContext({ language: 'bash' });
    assert.equal(context.language, 'bash');
    const first = await client.runCode('mkdir -p proj && cd proj\ncount=41\ngreet() { echo "hello $1"; }', { context });
    assert.equal(first.error, undefined, first.error?.value);
    const second = await client.runCode('pwd; echo $((count + 1)); greet you; echo oops >&2', { context });
    assert.deepEqual(second.logs.stdout.join(''), '/home/user/proj\n42\nhello you\noops\n');
    const failed = await client.runCode('ls /no/such/dir', { context });
    assert.equal(failed.error?.name, 'ExitCodeError');
    assert.equal(failed.error?.value, 'exit status 2');
    assert.match(failed.logs.stdout.join(''), /No such file or directory/);
    // A command that reads stdin gets end-of-file, not the server's own input.
    assert.deepEqual((await client.runCode('read line; echo "got [$line]"', { context })).logs.stdout, ['got []\n']);
  });

  test('bash: per-run env vars are set for the run only; a timeout stops the command and keeps the shell', async () => {
    const withEnv = await client.runCode('echo $FOO', { language: 'bash', envs: { FOO: "bar 'quoted'" } });
    assert.deepEqual(withEnv.logs.stdout, ["bar 'quoted'\n"]);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash code
    assert.deepEqual((await client.runCode('echo ${FOO:-default}', { language: 'bash' })).logs.stdout, ['default\n']);

    const context = await client.createCodeContext({ language: 'bash' });
    await client.runCode('kept=yes', { context });
    const stopped = await client.runCode('sleep 60', { context, timeoutMs: 1500 }).catch((error: Error) => error);
    assert.ok(stopped instanceof Error, 'the client reports the timeout');
    assert.deepEqual((await client.runCode('echo $kept', { context })).logs.stdout, ['yes\n']);
  });

  test('bash: the same jail as Python (no host secrets, no way out of the workspace), and exit gives a fresh shell', async () => {
    const context = await client.createCodeContext({ language: 'bash', cwd: '/root' });
    const jail = await client.runCode('id -u; pwd; cat /etc/shadow 2>&1; ls /home', { context });
    assert.match(jail.logs.stdout.join(''), /^1000\n\/root\n.*(No such file|Permission denied).*\nuser\n$/s);
    await client.runCode('exit 3', { context });
    const after = await client.runCode('echo alive', { context });
    assert.match(after.logs.stdout.join(''), /new one\]\nalive\n$/);
  });

  test('R: values, env vars per run, errors', async () => {
    const value = await client.runCode('x <- c(1, 2, 3)\nsum(x) * 7', { language: 'r' });
    assert.equal(value.error, undefined, value.error?.traceback);
    // IRkernel shows a value as display data (as in E2B's image): results[0], not the main result.
    assert.equal(value.results[0]?.text, '[1] 42');
    const env = await client.runCode('Sys.getenv("FOO")', { language: 'r', envs: { FOO: 'bar' } });
    assert.equal(env.results[0]?.text, '[1] "bar"');
    assert.equal((await client.runCode('Sys.getenv("FOO", unset = "default")', { language: 'r' })).results[0]?.text, '[1] "default"');
    const failed = await client.runCode('stop("boom")', { language: 'r' });
    assert.match(failed.error?.value ?? '', /boom/);
  });
});

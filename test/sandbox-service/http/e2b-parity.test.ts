/**
 * What E2B's own test suite (e2b-dev/code-interpreter, js/tests) expects of a sandbox, checked
 * with E2B's official client (@e2b/code-interpreter in debug mode, given the sandbox's URL) against the sandbox service with real kernels: one test per thing
 * that suite found missing, written here in our own words.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { useE2bDebugSandbox } from '../../support/e2b-debug-sandbox.ts';

const e2b = useE2bDebugSandbox();

describe('JavaScript and TypeScript as E2B returns them', () => {
  test('a string value comes back without its quotes, also after top-level await', async () => {
    const awaited = await e2b.client.runCode('await new Promise((resolve) => setTimeout(() => resolve("Hello World!"), 10))', {
      language: 'js',
    });
    assert.equal(awaited.error, undefined, awaited.error?.traceback);
    assert.equal(awaited.text, 'Hello World!');
    const env = await e2b.client.runCode('Deno.env.get("FOO")', { language: 'ts', envs: { FOO: 'bar' } });
    assert.equal(env.text, 'bar');
    // Only one pair goes, as E2B's server strips it: a string holding quotes keeps its own.
    const quoted = await e2b.client.runCode('JSON.stringify("x")', { language: 'js' });
    assert.equal(quoted.text, '"x"');
  });

  test('bytes written to Deno.stdout and Deno.stderr are captured, in order with console output', async () => {
    const stdout: string[] = [];
    const execution = await e2b.client.runCode(
      'console.log("one");\nDeno.stdout.writeSync(new TextEncoder().encode("two\\n"));\nawait Deno.stderr.write(new TextEncoder().encode("three\\n"));\nconsole.log("four");',
      { language: 'js', onStdout: (message) => void stdout.push(message.line) },
    );
    assert.equal(execution.error, undefined, execution.error?.traceback);
    assert.deepEqual(execution.logs.stdout, ['one\n', 'two\n', 'four\n']);
    assert.deepEqual(execution.logs.stderr, ['three\n']);
    assert.deepEqual(stdout, ['one\n', 'two\n', 'four\n']);
  });

  test('a syntax error carries the parser message and its position; the context goes on', async () => {
    const context = await e2b.client.createCodeContext({ language: 'ts' });
    await e2b.client.runCode('const kept: number = 41;', { context });
    const execution = await e2b.client.runCode('const ok = 1;\nconst x = ;', { context });
    assert.equal(execution.error?.name, 'SyntaxError');
    assert.match(execution.error!.value, /Expression expected \(line 2, column 11\)/);
    assert.match(execution.error!.traceback, /const x = ;/);
    assert.equal((await e2b.client.runCode('kept + 1', { context })).text, '42');
    // A runtime error is untouched: its own name, message and stack.
    const thrown = await e2b.client.runCode('throw new RangeError("too far")', { context });
    assert.equal(thrown.error?.name, 'RangeError');
    assert.equal(thrown.error?.value, 'too far');
  });
});

describe('Python results and contexts as E2B has them', () => {
  test('a DataFrame result carries its columns as data', async () => {
    const execution = await e2b.client.runCode('import pandas as pd\npd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})');
    assert.equal(execution.error, undefined, execution.error?.traceback);
    assert.deepEqual(execution.results[0]?.data, { a: [1, 2, 3], b: ['x', 'y', 'z'] });
    assert.match(execution.results[0]?.html ?? '', /<table/);
  });

  test('a PIL image saved to a file is also shown as a png result, and the file is written', async () => {
    const execution = await e2b.client.runCode(
      'import numpy, os\nfrom PIL import Image\nImage.fromarray((numpy.random.rand(8, 8, 3) * 255).astype("uint8")).save("saved.png")\nos.path.getsize("saved.png") > 0',
    );
    assert.equal(execution.error, undefined, execution.error?.traceback);
    const png = execution.results.find((result) => result.png);
    assert.ok(png, 'a png result');
    assert.equal(Buffer.from(png.png!, 'base64').subarray(1, 4).toString(), 'PNG');
    assert.equal(execution.text, 'True');
  });

  test('default python and javascript contexts are listed before first use, and their ids work', async () => {
    const listed = await e2b.client.listCodeContexts();
    const languages = listed.map((context) => context.language);
    assert.ok(languages.includes('python') && languages.includes('javascript'), languages.join(', '));
    const javascript = listed.find((context) => context.language === 'javascript')!;
    await e2b.client.runCode('globalThis.seen = 5', { context: javascript });
    // The same context serves code sent with only the language.
    assert.equal((await e2b.client.runCode('seen * 2', { language: 'javascript' })).text, '10');
    assert.ok((await e2b.client.listCodeContexts()).some((context) => context.id === javascript.id));
    const created = await e2b.client.createCodeContext();
    const again = await e2b.client.listCodeContexts();
    assert.equal(again.at(-1)?.id, created.id, 'a new context is listed last');
  });
});

describe('bash and R contexts', () => {
  test('bash: state (cwd, variables, functions) persists between runs; output and exit status come back', async () => {
    const context = await e2b.client.createCodeContext({ language: 'bash' });
    assert.equal(context.language, 'bash');
    const first = await e2b.client.runCode('mkdir -p proj && cd proj\ncount=41\ngreet() { echo "hello $1"; }', { context });
    assert.equal(first.error, undefined, first.error?.value);
    const second = await e2b.client.runCode('pwd; echo $((count + 1)); greet you; echo oops >&2', { context });
    assert.deepEqual(second.logs.stdout.join(''), '/home/user/proj\n42\nhello you\noops\n');
    const failed = await e2b.client.runCode('ls /no/such/dir', { context });
    assert.equal(failed.error?.name, 'ExitCodeError');
    assert.equal(failed.error?.value, 'exit status 2');
    assert.match(failed.logs.stdout.join(''), /No such file or directory/);
    // A command that reads stdin gets end-of-file, not the server's own input.
    assert.deepEqual((await e2b.client.runCode('read line; echo "got [$line]"', { context })).logs.stdout, ['got []\n']);
  });

  test('bash: per-run env vars are set for the run only; a timeout stops the command and keeps the shell', async () => {
    const withEnv = await e2b.client.runCode('echo $FOO', { language: 'bash', envs: { FOO: "bar 'quoted'" } });
    assert.deepEqual(withEnv.logs.stdout, ["bar 'quoted'\n"]);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash code
    assert.deepEqual((await e2b.client.runCode('echo ${FOO:-default}', { language: 'bash' })).logs.stdout, ['default\n']);

    const context = await e2b.client.createCodeContext({ language: 'bash' });
    await e2b.client.runCode('kept=yes', { context });
    const stopped = await e2b.client.runCode('sleep 60', { context, timeoutMs: 1500 }).catch((error: Error) => error);
    assert.ok(stopped instanceof Error, 'the client reports the timeout');
    assert.deepEqual((await e2b.client.runCode('echo $kept', { context })).logs.stdout, ['yes\n']);
  });

  test('bash: the same jail as Python (no host secrets, no way out of the workspace), and exit gives a fresh shell', async () => {
    const context = await e2b.client.createCodeContext({ language: 'bash', cwd: '/root' });
    const jail = await e2b.client.runCode('id -u; pwd; cat /etc/shadow 2>&1; ls /home', { context });
    assert.match(jail.logs.stdout.join(''), /^1000\n\/root\n.*(No such file|Permission denied).*\nuser\n$/s);
    await e2b.client.runCode('exit 3', { context });
    const after = await e2b.client.runCode('echo alive', { context });
    assert.match(after.logs.stdout.join(''), /new one\]\nalive\n$/);
  });

  test('R: values, env vars per run, errors', async () => {
    const value = await e2b.client.runCode('x <- c(1, 2, 3)\nsum(x) * 7', { language: 'r' });
    assert.equal(value.error, undefined, value.error?.traceback);
    // IRkernel shows a value as display data (as in E2B's image): results[0], not the main result.
    assert.equal(value.results[0]?.text, '[1] 42');
    const env = await e2b.client.runCode('Sys.getenv("FOO")', { language: 'r', envs: { FOO: 'bar' } });
    assert.equal(env.results[0]?.text, '[1] "bar"');
    assert.equal((await e2b.client.runCode('Sys.getenv("FOO", unset = "default")', { language: 'r' })).results[0]?.text, '[1] "default"');
    const failed = await e2b.client.runCode('stop("boom")', { language: 'r' });
    assert.match(failed.error?.value ?? '', /boom/);
  });
});

describe('matplotlib charts as structured data beside the png', () => {
  const chartOf = async (code: string) => {
    const execution = await e2b.client.runCode(`import matplotlib.pyplot as plt\n${code}\nplt.show()`);
    assert.equal(execution.error, undefined, execution.error?.traceback);
    const shown = execution.results.find((result) => result.png);
    assert.ok(shown?.png, 'the png is still there');
    return shown.chart as any;
  };

  test('line: datetime x scale, units from labels, points as [ISO date, number]', async () => {
    const chart = await chartOf(
      'import datetime\ndays = [datetime.datetime(2024, 3, 1) + datetime.timedelta(days=i) for i in range(5)]\nplt.plot(days, [1, 4, 9, 16, 25], label="squares")\nplt.xlabel("Day")\nplt.ylabel("Area [m2]")\nplt.title("Growth")',
    );
    assert.equal(chart.type, 'line');
    assert.equal(chart.title, 'Growth');
    assert.equal(chart.x_unit, null);
    assert.equal(chart.y_unit, 'm2');
    assert.equal(chart.x_scale, 'datetime');
    assert.equal(chart.y_scale, 'linear');
    assert.equal(chart.elements[0].label, 'squares');
    assert.equal(new Date(chart.elements[0].points[0][0]).toISOString(), '2024-03-01T00:00:00.000Z');
    assert.deepEqual(
      chart.elements[0].points.map((point: [string, number]) => point[1]),
      [1, 4, 9, 16, 25],
    );
  });

  test('bar with groups, log scale, pie angles, box-and-whisker statistics', async () => {
    const bar = await chartOf('plt.bar(["x", "y"], [3, 5], label="first")\nplt.bar(["x", "y"], [1, 2], label="second")');
    assert.equal(bar.type, 'bar');
    assert.deepEqual(
      bar.elements.map((e: any) => [e.label, e.group, e.value]),
      [
        ['x', 'first', 3],
        ['y', 'first', 5],
        ['x', 'second', 1],
        ['y', 'second', 2],
      ],
    );
    const log = await chartOf('plt.plot([1, 2, 3], [10, 100, 1000])\nplt.yscale("log")');
    assert.equal(log.y_scale, 'log');
    const pie = await chartOf('plt.pie([3, 1], labels=["most", "rest"])');
    assert.deepEqual(
      pie.elements.map((e: any) => [e.label, e.angle, e.radius]),
      [
        ['most', 270, 1],
        ['rest', 90, 1],
      ],
    );
    const box = await chartOf('plt.boxplot([[1, 2, 3, 4, 5, 40], [2, 4, 6]], labels=["a", "b"])');
    assert.equal(box.type, 'box_and_whisker');
    assert.deepEqual(
      box.elements.map((e: any) => [e.label, e.min, e.first_quartile, e.median, e.third_quartile, e.max, e.outliers]),
      [
        ['a', 1, 2.25, 3.5, 4.75, 5, [40]],
        ['b', 2, 3, 4, 5, 6, []],
      ],
    );
  });

  test('subplots give a superchart of charts; a drawing with no data is unknown', async () => {
    const chart = await chartOf(
      'fig, (left, right) = plt.subplots(1, 2)\nfig.suptitle("Both")\nleft.plot([0, 1], [1, 0])\nleft.set_title("down")\nright.scatter([1, 2, 3], [3, 1, 2], label="dots")',
    );
    assert.equal(chart.type, 'superchart');
    assert.equal(chart.title, 'Both');
    assert.deepEqual(
      chart.elements.map((c: any) => [c.type, c.title]),
      [
        ['line', 'down'],
        ['scatter', null],
      ],
    );
    assert.deepEqual(chart.elements[1].elements[0].points, [
      [1, 3],
      [2, 1],
      [3, 2],
    ]);
    const unknown = await chartOf('fig, ax = plt.subplots()\nax.add_patch(plt.Rectangle((0, 0), 1, 1))\nax.set_title("a square")');
    assert.equal(unknown.type, 'unknown');
    assert.equal(unknown.title, 'a square');
    assert.deepEqual(unknown.elements, []);
  });
});

/**
 * JavaScript and TypeScript contexts through the sandbox's HTTP API, on Deno's
 * Jupyter kernel under bubblewrap: results without ANSI codes, errors, state,
 * timeouts, and the same isolation as Python.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startSandbox, type RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { createContext, execute, request } from '../../support/sandbox-support.ts';

const SECRET_NAME = 'SANDBOX_JS_TEST_SECRET';

let sandbox: RunningSandbox;
let url: string;
let ts: string;

before(async () => {
  process.env[SECRET_NAME] = 'server-only';
  sandbox = await startSandbox({ port: 0, poolSize: 1 });
  url = sandbox.url;
  ts = await createContext(url, { language: 'ts' });
});
after(async () => {
  await sandbox.close();
  delete process.env[SECRET_NAME];
});

describe('JavaScript and TypeScript contexts', () => {
  test('a context is created for js and ts, with the language normalised', async () => {
    const listed = await request(url, 'GET', '/contexts');
    const context = listed.json.find((c: { id: string }) => c.id === ts);
    assert.equal(context.language, 'typescript');
  });

  test('TypeScript runs with its types; console output and the value come back, without ANSI codes', async () => {
    const run = await execute(url, {
      code: 'interface Point { x: number; y: number }\nconst p: Point = { x: 1, y: 2 };\nconsole.log("sum", p.x + p.y);\np.x * 42',
      context_id: ts,
    });
    assert.equal(run.error, undefined, run.error?.traceback);
    assert.equal(run.stdout, 'sum 3\n');
    assert.equal(run.results[0]?.text, '42');
    assert.equal(run.results[0]?.is_main_result, true);
  });

  test('state persists between executions', async () => {
    await execute(url, { code: 'let total = 10;', context_id: ts });
    await execute(url, { code: 'total += 5;', context_id: ts });
    const run = await execute(url, { code: 'total', context_id: ts });
    assert.equal(run.results[0]?.text, '15');
  });

  test('objects are rendered as plain text', async () => {
    const run = await execute(url, { code: '({ name: "deno", list: [1, 2] })', context_id: ts });
    assert.equal(run.results[0]?.text, '{ name: "deno", list: [ 1, 2 ] }');
    assert.doesNotMatch(JSON.stringify(run.events), /\\u001b/);
  });

  test('html results come through', async () => {
    const run = await execute(url, { code: 'Deno.jupyter.html`<b>bold</b>`', context_id: ts });
    assert.equal(run.results[0]?.html, '<b>bold</b>');
  });

  test('a thrown error gives name, value and a plain traceback; a syntax error still gives an error', async () => {
    const thrown = await execute(url, { code: 'function f() { throw new TypeError("boom") }\nf()', context_id: ts });
    assert.equal(thrown.error?.name, 'TypeError');
    assert.equal(thrown.error?.value, 'boom');
    assert.match(thrown.error!.traceback, /TypeError: boom/);
    assert.doesNotMatch(thrown.error!.traceback, /\u001b/);
    const syntax = await execute(url, { code: 'const = ;', context_id: ts });
    assert.ok(syntax.error, 'a syntax error is an error event');
    assert.deepEqual(syntax.events.at(-1), { type: 'end_of_execution' });
  });

  test('language "js" without a context runs in a default JavaScript context', async () => {
    const run = await execute(url, { code: '[1, 2, 3].map((n) => n * 2)', language: 'js' });
    assert.equal(run.results[0]?.text, '[ 2, 4, 6 ]');
    const again = await execute(url, { code: 'globalThis.marker = 7', language: 'javascript' });
    assert.equal(again.results[0]?.text, '7');
    assert.equal((await execute(url, { code: 'marker', language: 'js' })).results[0]?.text, '7');
  });

  test('env_vars and cwd work as in Python', async () => {
    const env = await execute(url, { code: 'Deno.env.get("GREETING")', context_id: ts, env_vars: { GREETING: 'hello' } });
    assert.equal(env.results[0]?.text, 'hello');
    const gone = await execute(url, { code: 'String(Deno.env.get("GREETING"))', context_id: ts });
    assert.equal(gone.results[0]?.text, 'undefined');
    const cwd = await execute(url, { code: 'Deno.cwd()', context_id: ts });
    assert.equal(cwd.results[0]?.text, '/home/user');
  });

  test('a timeout stops a busy loop and keeps the variables', async () => {
    await execute(url, { code: 'const kept = 41;', context_id: ts });
    const run = await execute(url, { code: 'while (true) {}', context_id: ts, timeout: 1 });
    assert.equal(run.error?.name, 'TimeoutError');
    assert.equal(run.events.filter((event) => event.type === 'error').length, 1);
    const after = await execute(url, { code: 'kept + 1', context_id: ts });
    assert.equal(after.results[0]?.text, '42');
  });

  test('an await that never ends is stopped by a restart, and the error says so', async () => {
    const id = await createContext(url, { language: 'javascript' });
    const run = await execute(url, { code: 'await new Promise(() => {})', context_id: id, timeout: 1 });
    assert.equal(run.error?.name, 'TimeoutError');
    assert.match(run.error!.value, /restarted: its variables are lost/);
    assert.equal((await execute(url, { code: '1 + 1', context_id: id })).results[0]?.text, '2');
    await request(url, 'DELETE', `/contexts/${id}`);
  });

  test("the server's environment, the network and the host's files are out of reach", async () => {
    const run = await execute(url, {
      code:
        `const out = { secret: String(Deno.env.get(${JSON.stringify(SECRET_NAME)})) };\n` +
        // Through the proxy variables, the policy proxy answers (no host allowed); past them, nothing.
        `try { const r = await fetch("http://127.0.0.1:${new URL(url).port}/health"); out.net = r.status === 403 && (await r.text()).startsWith("sandbox network policy") ? "denied" : "reached"; } catch (e) { out.net = e.name; }\n` +
        `try { Deno.readTextFileSync(${JSON.stringify(`${process.cwd()}/package.json`)}); out.file = "read"; } catch (e) { out.file = e.name; }\n` +
        'console.log(JSON.stringify(out))',
      context_id: ts,
    });
    assert.equal(run.error, undefined, run.error?.traceback);
    assert.deepEqual(JSON.parse(run.stdout), { secret: 'undefined', net: 'denied', file: 'NotFound' });
  });
});

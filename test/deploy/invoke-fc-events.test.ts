/**
 * FC events on the built bundle: `POST /invoke` as fc3's local invoke (and InvokeFunction)
 * deliver it — the event file's bytes as the body, an octet-stream content type, FC's
 * x-fc-* headers — to dist/fc.js started the way FC starts it (cwd the code folder,
 * s.yaml's environment, FC_SERVER_PORT as fc3's local emulation sets it, a bare PATH).
 * Behind it, as in the runtime-contract test: a real sandbox service reached through a
 * stand-in for FC's signature-checking trigger gateway, and a stand-in for the FC
 * Session API. Then `npm run smoke` against the same running bundle.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type FcDeployment, startFcDeployment } from '../support/fc-deployment.ts';
import { ROOT, TOOL_NAMES } from '../support/mcp-harness.ts';
import type { FcOpenApiStandIn } from '../support/fc-openapi-stand-in.ts';
import { freePort } from '../support/processes.ts';

const ROLE = { accessKeyId: 'STS.invoke-key', accessKeySecret: 'invoke-role-secret', securityToken: 'invoke-role-token' };
const TOKEN = 'invoke-test-token';
const ACCOUNT_ID = '1234567890123456';

type Json = Record<string, any>;

const eventFile = (name: string) => readFile(join(ROOT, 'infra/events', name));

/** What `jq --arg t "$MCP_AUTH_TOKEN" '.auth_token = $t'` does to an event file (the README's recipe). */
async function withToken(name: string, token = TOKEN): Promise<string> {
  return JSON.stringify({ ...(JSON.parse((await eventFile(name)).toString()) as Json), auth_token: token });
}

describe('POST /invoke on the bundle, as fc3 local invoke sends events (stand-ins for the FC Session API and trigger gateway)', () => {
  let fc: FcDeployment;
  let home: string;
  let api: FcOpenApiStandIn;
  let child: ChildProcess;
  let origin: string;
  let output: () => string;
  let n = 0;

  /** FC's headers on an event, with a fresh request id each time. */
  const fcHeaders = (extra: Record<string, string> = {}) => {
    const requestId = `invoke-req-${++n}-${process.pid}`;
    return {
      requestId,
      headers: {
        'content-type': 'application/octet-stream',
        'x-fc-request-id': requestId,
        'x-fc-function-name': 'code-interpreter-mcp',
        'x-fc-function-handler': 'index.handler',
        'x-fc-function-memory': '256',
        'x-fc-function-timeout': '3700',
        'x-fc-region': 'cn-hangzhou',
        'x-fc-account-id': ACCOUNT_ID,
        'x-fc-access-key-id': ROLE.accessKeyId,
        'x-fc-access-key-secret': ROLE.accessKeySecret,
        'x-fc-security-token': ROLE.securityToken,
        ...extra,
      },
    };
  };

  const invoke = async (body: string | Buffer, extra: Record<string, string> = {}) => {
    const { requestId, headers } = fcHeaders(extra);
    const response = await fetch(`${origin}/invoke`, { method: 'POST', headers, body });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) as any, requestId };
  };

  const logLines = () =>
    output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Json);

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'invoke-home-'));
    // fc3's local emulation sets FC_SERVER_PORT (the cloud sets FC_CUSTOM_LISTEN_PORT)
    fc = await startFcDeployment({
      contextSecret: 'invoke-test-context-secret-32ch',
      authToken: TOKEN,
      role: ROLE,
      accountId: ACCOUNT_ID,
      portVariable: 'FC_SERVER_PORT',
      // A small body limit, so the 413 test's body is refused before the client has sent it all.
      environment: { MCP_MAX_BODY_BYTES: String(1024 * 1024) },
    });
    ({ api, child, output } = fc);
    origin = `http://127.0.0.1:${fc.port}`;
  });

  after(async () => {
    await fc?.close();
    if (home) await rm(home, { recursive: true, force: true });
  });

  test('an event file without a credential is refused with 401, and no tool runs', async () => {
    for (const file of ['run-code.json', 'tools-call.json']) {
      const sessionsBefore = api.accepted.length;
      const res = await invoke(await eventFile(file));
      assert.equal(res.status, 401, res.text);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
      assert.match(res.json().error.message, /auth_token/);
      assert.equal(api.accepted.length, sessionsBefore, 'no Session API call was made');
    }
  });

  test('a wrong credential is refused: a wrong auth_token, a wrong header, a wrong token beside a right one', async () => {
    assert.equal((await invoke(await withToken('run-code.json', 'not-the-token'))).status, 401);
    assert.equal((await invoke(await eventFile('run-code.json'), { authorization: 'Bearer not-the-token' })).status, 401);
    assert.equal((await invoke(await withToken('run-code.json', 'not-the-token'), { authorization: `Bearer ${TOKEN}` })).status, 401);
  });

  test("the convenience event with auth_token returns run_code's result object, logged under its x-fc-request-id", async () => {
    const res = await invoke(await withToken('run-code.json'));
    assert.equal(res.status, 200, res.text);
    const result = res.json();
    assert.notEqual(result.isError, true, res.text);
    assert.equal(result.structuredContent.stdout, 'hello from CPython\n');
    assert.equal(result.structuredContent.results.find((r: Json) => r.is_main_result)?.text, '42');
    assert.ok(result.content.some((c: Json) => c.type === 'text' && /42/.test(c.text)));

    const lines = logLines().filter((l) => l.request_id === res.requestId);
    // One line per request: the route, the method, the tool, its outcome and the status.
    assert.equal(lines.length, 1, JSON.stringify(lines));
    assert.ok(
      lines.some(
        (l) =>
          l.msg === 'mcp request' &&
          l.route === 'invoke' &&
          l.method === 'tools/call' &&
          l.tool === 'run_code' &&
          l.outcome === 'ok' &&
          l.status === 200,
      ),
      JSON.stringify(lines),
    );
    assert.ok(!output().includes(TOKEN), 'the token is never logged');
  });

  test('the JSON-RPC event file, with the Authorization header (as an HTTP trigger sends it), returns the JSON-RPC response', async () => {
    const res = await invoke(await eventFile('tools-call.json'), { authorization: `Bearer ${TOKEN}` });
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const body = res.json();
    assert.equal(body.jsonrpc, '2.0');
    assert.equal(body.id, 1);
    assert.equal(body.result.structuredContent.stdout, 'hello from CPython\n');
    assert.ok(logLines().some((l) => l.request_id === res.requestId && l.msg === 'mcp request' && l.tool === 'run_code'));
  });

  test('the JSON-RPC event file with auth_token works the same', async () => {
    const res = await invoke(await withToken('tools-call.json'));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json().result.structuredContent.stdout, 'hello from CPython\n');
  });

  test('contexts persist across events: create, run twice, stop — each event a new request', async () => {
    const call = async (tool: string, args: Json) => {
      const res = await invoke(JSON.stringify({ tool, arguments: args, auth_token: TOKEN }));
      assert.equal(res.status, 200, res.text);
      return res.json();
    };
    const contextId = (await call('create_context', { language: 'python' })).structuredContent.context_id as string;
    await call('run_code', { context_id: contextId, code: 'counter = 41' });
    const ran = await call('run_code', { context_id: contextId, code: 'counter + 1' });
    assert.equal(ran.structuredContent.results[0].text, '42');
    assert.equal((await call('stop_context', { context_id: contextId })).structuredContent.success, true);
    const gone = await call('run_code', { context_id: contextId, code: '1' });
    assert.equal(gone.isError, true, 'a stopped context is a tool error, still a 200 result');
  });

  test('a batch: every request answered in one array, the notification not; a batch missing a credential on one request is refused', async () => {
    const batch = [
      { jsonrpc: '2.0', id: 'list', method: 'tools/list', auth_token: TOKEN },
      {
        jsonrpc: '2.0',
        id: 'run',
        method: 'tools/call',
        params: { name: 'run_code', arguments: { language: 'python', code: 'print(2 ** 10)' } },
        auth_token: TOKEN,
      },
      { jsonrpc: '2.0', method: 'notifications/initialized', auth_token: TOKEN },
    ];
    const res = await invoke(JSON.stringify(batch));
    assert.equal(res.status, 200, res.text);
    const answers = res.json() as Json[];
    assert.ok(Array.isArray(answers));
    assert.deepEqual(answers.map((a) => a.id).sort(), ['list', 'run']);
    const byId = Object.fromEntries(answers.map((a) => [a.id, a]));
    assert.deepEqual(byId.list.result.tools.map((t: Json) => t.name).sort(), TOOL_NAMES);
    assert.equal(byId.run.result.structuredContent.stdout, '1024\n');

    const single = await invoke(JSON.stringify([batch[0]]));
    assert.ok(Array.isArray(single.json()), 'a batch of one is answered with an array of one');

    const { auth_token: _, ...bare } = batch[1]!;
    const refused = await invoke(JSON.stringify([batch[0], bare]));
    assert.equal(refused.status, 401, refused.text);
  });

  test('malformed events get a 400 that names the problem and shows both accepted shapes; the process stays up', async () => {
    const cases: [string, number, RegExp][] = [
      ['{"tool": "run_code", "arguments": ', -32700, /not JSON/],
      ['"run_code"', -32600, /is a string/],
      ['[]', -32600, /empty batch/],
      ['{"name": "run_code"}', -32600, /neither "jsonrpc" nor "tool"/],
      ['{"tool": "run_code", "args": {}}', -32600, /args/],
      ['{"tool": "run_code", "arguments": "print(1)"}', -32600, /arguments/],
      ['{"jsonrpc": "2.0", "id": 1}', -32600, /method/],
      ['[{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, 7]', -32600, /batch item 1/],
    ];
    for (const [body, code, reason] of cases) {
      const res = await invoke(body, { authorization: `Bearer ${TOKEN}` });
      assert.equal(res.status, 400, `${body}: ${res.text}`);
      const error = res.json().error;
      assert.equal(error.code, code, body);
      assert.match(error.message, reason, body);
      assert.match(error.message, /"jsonrpc":"2\.0".*"method":"tools\/call"/, `${body}: shows the JSON-RPC shape`);
      assert.match(error.message, /\{"tool":"run_code","arguments":\{/, `${body}: shows the tool-call shape`);
    }
    // A malformed event without any credential is still told what is wrong (nothing runs).
    assert.equal((await invoke('not json')).status, 400);

    const unknown = await invoke(JSON.stringify({ tool: 'no_such_tool', arguments: {}, auth_token: TOKEN }));
    assert.equal(unknown.status, 400);
    assert.match(unknown.json().error.message, /unknown tool "no_such_tool"/);

    const raised = await invoke(
      JSON.stringify({ tool: 'run_code', arguments: { language: 'python', code: 'raise ValueError("boom")' }, auth_token: TOKEN }),
    );
    assert.equal(raised.status, 200, 'a tool error is a result');
    assert.equal(raised.json().isError, true);
    assert.equal(raised.json().structuredContent.error.name, 'ValueError');

    assert.equal((await fetch(`${origin}/invoke`)).status, 405);
    assert.equal(child.exitCode, null, 'still running');
    assert.equal((await fetch(`${origin}/health`)).status, 200);
  });

  test('an event over the body limit is refused with 413 before anything runs', async () => {
    const big = JSON.stringify({ tool: 'run_code', arguments: { code: `x = "${'a'.repeat(9 * 1024 * 1024)}"` }, auth_token: TOKEN });
    const res = await invoke(big);
    assert.equal(res.status, 413);
    assert.match(res.json().error.message, /must not exceed \d+ bytes/);
  });

  describe('npm run smoke against the running bundle', () => {
    const smoke = (args: string[], env: Record<string, string> = {}) =>
      new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
        const run = spawn('npm', ['run', '-s', 'smoke', '--', ...args], {
          cwd: ROOT,
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? home, ...env },
          stdio: ['ignore', 'pipe', 'ignore'],
        });
        let stdout = '';
        run.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
        run.once('error', reject);
        run.once('exit', (code) => resolve({ code, stdout }));
      });

    test('passes with the token: health_check, create_context, run_code with the printed value checked, stop_context', async () => {
      const { code, stdout } = await smoke([`${origin}/`, TOKEN]);
      assert.equal(code, 0, stdout);
      const lines = stdout.trim().split('\n');
      assert.deepEqual(
        lines.map((l) => l.split(/\s+/).slice(0, 2).join(' ')),
        ['ok connect', 'ok health_check', 'ok create_context', 'ok run_code', 'ok stop_context', 'PASS smoke'],
      );
      assert.match(lines[0]!, /MCP 2026-07-28 era, server\/discover/, 'the smoke test says it spoke 2026-07-28');
      const [, a, b, product] = /(\d+) \* (\d+) = (\d+)/.exec(stdout) ?? [];
      assert.equal(Number(product), Number(a) * Number(b));
      assert.equal(api.sessions.size, 0, 'the smoke test left no session behind');
    });

    test('takes the token from MCP_AUTH_TOKEN', async () => {
      const { code } = await smoke([`${origin}/mcp`], { MCP_AUTH_TOKEN: TOKEN });
      assert.equal(code, 0);
    });

    test('fails with one line and a non-zero exit: wrong token, nothing listening, bad usage', async () => {
      const wrong = await smoke([`${origin}/mcp`, 'not-the-token']);
      assert.equal(wrong.code, 1);
      assert.match(wrong.stdout, /^FAIL connect: .*401.*token/);
      assert.equal(wrong.stdout.trim().split('\n').length, 1);

      const down = await smoke([`http://127.0.0.1:${await freePort()}/mcp`, TOKEN]);
      assert.equal(down.code, 1);
      assert.match(down.stdout, /^FAIL connect: .*ECONNREFUSED/);

      assert.equal((await smoke([])).code, 2);
    });
  });
});

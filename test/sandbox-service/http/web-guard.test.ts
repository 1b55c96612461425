/**
 * The sandbox API answers no web page (found by a security review) and keeps a client's
 * connection usable after a 413: a browser's no-cors text/plain POST,
 * a DNS-rebinding Host and a foreign Origin are refused before any code runs; with
 * a token, nothing runs without it; `npm start`'s own sandbox service has one that
 * only its MCP side knows.
 */
import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startSandbox, type RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { connect, call, startMcp, structured, type McpProcess } from '../../support/mcp-harness.ts';
import { execute, request } from '../../support/sandbox-support.ts';

/** A raw HTTP/1.1 request, so Host can be anything (fetch sets it from the URL). */
function rawRequest(
  url: string,
  options: { method: string; path: string; headers?: Record<string, string>; body?: string | Buffer; agent?: Agent },
): Promise<{ status: number; text: string; headers: Record<string, unknown> }> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: options.method,
        path: options.path,
        headers: options.headers,
        agent: options.agent,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const marker = (name: string) => `open(${JSON.stringify(name)}, "w").write("ran")`;
const exists = async (url: string, name: string, headers: Record<string, string> = {}) => {
  const run = await execute(url, { code: `import os; print(os.path.exists(${JSON.stringify(name)}))` }, headers);
  return run.stdout.trim();
};

describe('the sandbox API refuses web pages', () => {
  let sandbox: RunningSandbox;
  before(async () => {
    sandbox = await startSandbox({ host: '127.0.0.1', port: 0, poolSize: 0 });
  });
  after(() => sandbox.close());

  test('a cross-site no-cors POST (text/plain, foreign Origin) gets 403 and its code does not run', async () => {
    const { port } = new URL(sandbox.url);
    const page = await rawRequest(sandbox.url, {
      method: 'POST',
      path: '/execute',
      headers: { Host: `127.0.0.1:${port}`, Origin: 'http://evil.example', 'Content-Type': 'text/plain;charset=UTF-8' },
      body: JSON.stringify({ code: marker('from-page') }),
    });
    assert.equal(page.status, 403);
    assert.match(page.text, /Origin "http:\/\/evil\.example" is not local/);
    assert.equal(await exists(sandbox.url, 'from-page'), 'False');
  });

  test('Origin: null (a sandboxed iframe, a file: page) is refused too', async () => {
    const response = await request(sandbox.url, 'POST', '/execute', { code: marker('from-null') }, { origin: 'null' });
    assert.equal(response.status, 403);
    assert.equal(await exists(sandbox.url, 'from-null'), 'False');
  });

  test('a DNS-rebinding Host gets 403 and its code does not run', async () => {
    const { port } = new URL(sandbox.url);
    const rebound = await rawRequest(sandbox.url, {
      method: 'POST',
      path: '/execute',
      headers: { Host: `evil.example:${port}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ code: marker('from-rebinding') }),
    });
    assert.equal(rebound.status, 403);
    assert.match(rebound.text, /Host "evil\.example:\d+" is not local/);
    const listing = await rawRequest(sandbox.url, { method: 'GET', path: '/contexts', headers: { Host: 'evil.example' } });
    assert.equal(listing.status, 403);
    assert.equal(await exists(sandbox.url, 'from-rebinding'), 'False');
  });

  test('a local request whose body is not JSON gets 415 and runs nothing', async () => {
    const withBody = await fetch(`${sandbox.url}/execute`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ code: marker('from-text') }),
    });
    assert.equal(withBody.status, 415);
    assert.match(await withBody.text(), /must be application\/json, got text\/plain/);
    assert.equal(await exists(sandbox.url, 'from-text'), 'False');
  });

  test('a local JSON request, with or without a loopback Origin, is served', async () => {
    const plain = await execute(sandbox.url, { code: 'print(6 * 7)' });
    assert.equal(plain.stdout, '42\n');
    const { port } = new URL(sandbox.url);
    const local = await execute(sandbox.url, { code: 'print(1)' }, { origin: `http://localhost:${port}` });
    assert.equal(local.stdout, '1\n');
  });

  test('after a 413, the next requests on the same kept-alive connection work', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const big = await rawRequest(sandbox.url, {
        method: 'POST',
        path: '/contexts',
        headers: { 'Content-Type': 'application/json' },
        body: Buffer.alloc(9 * 1024 * 1024, 0x20),
        agent,
      });
      assert.equal(big.status, 413);
      assert.match(big.text, /request body too large \(limit \d+ bytes\)/);
      for (let i = 0; i < 2; i++) {
        const next = await rawRequest(sandbox.url, { method: 'GET', path: '/contexts', agent });
        assert.equal(next.status, 200, next.text);
      }
    } finally {
      agent.destroy();
    }
  });
});

describe('a sandbox with an API token', () => {
  const token = 'a-test-token-0123456789abcdef';
  let sandbox: RunningSandbox;
  before(async () => {
    sandbox = await startSandbox({ host: '127.0.0.1', port: 0, poolSize: 0, apiToken: token });
  });
  after(() => sandbox.close());

  test('refuses a call without X-Access-Token, or with a wrong one, and runs nothing', async () => {
    const none = await request(sandbox.url, 'POST', '/execute', { code: marker('no-token') });
    assert.equal(none.status, 401);
    assert.match(none.text, /requires its API token in the X-Access-Token header/);
    const wrong = await request(sandbox.url, 'POST', '/execute', { code: marker('wrong-token') }, { 'x-access-token': `${token}x` });
    assert.equal(wrong.status, 401);
    assert.match(wrong.text, /wrong token/);
    // The digest is Node's (hashFunction), compared as Hono compares: one of the same length differs too.
    const sameLength = await request(
      sandbox.url,
      'POST',
      '/execute',
      { code: marker('wrong-token') },
      { 'x-access-token': `${token.slice(0, -1)}0` },
    );
    assert.equal(sameLength.status, 401);
    const headers = { 'x-access-token': token };
    assert.equal(await exists(sandbox.url, 'no-token', headers), 'False');
    assert.equal(await exists(sandbox.url, 'wrong-token', headers), 'False');
  });

  test('serves a call with the token; /health stays open for probes', async () => {
    const run = await execute(sandbox.url, { code: 'print("ok")' }, { 'x-access-token': token });
    assert.equal(run.stdout, 'ok\n');
    assert.equal((await request(sandbox.url, 'GET', '/health')).status, 200);
  });
});

describe("npm start's own sandbox service", () => {
  let mcp: McpProcess;
  before(async () => {
    mcp = await startMcp({ SANDBOX_POOL_SIZE: '0' });
  });
  after(() => mcp.stop());

  test('answers only its own MCP side: a direct call without the token is 401, run_code through MCP works', async () => {
    const line = mcp.logs().find((entry) => entry.msg === 'embedded sandbox started');
    assert.ok(line, `no "embedded sandbox started" line in ${mcp.stderr()}`);
    const sandboxUrl = String(line.sandbox_url);
    const direct = await request(sandboxUrl, 'POST', '/execute', { code: 'print(1)' });
    assert.equal(direct.status, 401);
    assert.doesNotMatch(mcp.stderr() + mcp.stdout(), /x-access-token/i, 'the token is never logged');

    const client = await connect(mcp.url);
    try {
      const created = structured<{ context_id: string }>(await call(client, 'create_context', { language: 'python' }));
      const result = structured<{ stdout: string }>(
        await call(client, 'run_code', { context_id: created.context_id, code: 'print(2 + 2)' }),
      );
      assert.equal(result.stdout.trim(), '4');
    } finally {
      await client.close();
    }
  });
});

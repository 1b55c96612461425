/**
 * The FC custom-runtime contract, checked on the built bundle: read customRuntimeConfig
 * from s.yaml as `s preview` renders it, build, copy what .fcignore uploads into a code
 * folder, and start `command + args` there the way FC does (./fc-bundle.ts: cwd the code
 * folder, FC's variables, a bare PATH, nothing else). Then: it listens on 0.0.0.0,
 * /health answers within the health check's timeout, and a full MCP session (the
 * official client) works in FC session mode, with each request's x-fc-request-id in the
 * log lines. Behind it: a real sandbox service, reached through a stand-in for FC's
 * signature-checking trigger gateway, and a stand-in for the FC Session API.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { spawnFcProcess } from '../support/fc-bundle.ts';
import { type FcDeployment, startFcDeployment } from '../support/fc-deployment.ts';
import { call, ROOT, structured, textOf } from '../support/mcp-harness.ts';
import type { FcOpenApiStandIn } from '../support/fc-openapi-stand-in.ts';
import type { RenderedResource } from '../support/fc-render-yaml.ts';
import type { FcTriggerStandIn } from '../support/fc-trigger-stand-in.ts';
import { freePort } from '../support/processes.ts';

const ROLE = { accessKeyId: 'STS.role-key', accessKeySecret: 'role-secret', securityToken: 'role-token' };
const AUTH_TOKEN = 'contract-test-token';
const ACCOUNT_ID = '1234567890123456';

/** True when /proc/net/tcp lists a socket listening on 0.0.0.0:port (state 0A = LISTEN). */
async function listensOnAllInterfaces(port: number): Promise<boolean> {
  const table = await readFile('/proc/net/tcp', 'utf8');
  const local = `00000000:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return table.split('\n').some((line) => {
    const fields = line.trim().split(/\s+/);
    return fields[1] === local && fields[3] === '0A';
  });
}

describe('the bundle under the FC custom-runtime contract (stand-ins for the FC Session API and trigger gateway)', () => {
  let fc: FcDeployment;
  let mcp: RenderedResource['props'];
  let sandboxProps: RenderedResource['props'];
  let codeDir: string;
  let sandbox: FcDeployment['sandbox'];
  let gateway: FcTriggerStandIn;
  let api: FcOpenApiStandIn;
  let child: ChildProcess;
  let output: () => string;
  let port: number;
  const requestIds: string[] = [];

  before(async () => {
    fc = await startFcDeployment({
      contextSecret: 'contract-test-context-secret-32ch',
      authToken: AUTH_TOKEN,
      role: ROLE,
      accountId: ACCOUNT_ID,
      instanceId: 'c-contract-test-instance',
    });
    ({ mcp, sandboxFunction: sandboxProps, codeDir, sandbox, gateway, api, child, output, port } = fc);
    assert.equal(
      mcp.customRuntimeConfig.command[0],
      '/opt/nodejs20/bin/node',
      "the layer node; here the test runner's node stands in for it",
    );
  });

  after(() => fc?.close());

  test('s.yaml runs dist/fc.js (after its V8 flags) on port 9000, and the bundle listens on 0.0.0.0 at FC_CUSTOM_LISTEN_PORT', async () => {
    const args = mcp.customRuntimeConfig.args as string[];
    assert.equal(args.at(-1), 'dist/fc.js');
    assert.ok(
      args.slice(0, -1).every((a) => a.startsWith('--')),
      `only node flags before the bundle: ${args.join(' ')}`,
    );
    assert.equal(mcp.customRuntimeConfig.port, 9000);
    assert.ok(await listensOnAllInterfaces(port), `nothing listens on 0.0.0.0:${port}`);
  });

  test("the health check path answers 200 within the health check's timeout", async () => {
    const health = mcp.customRuntimeConfig.healthCheckConfig;
    const response = await fetch(`http://127.0.0.1:${port}${health.httpGetUrl}`, {
      signal: AbortSignal.timeout(health.timeoutSeconds * 1000),
    });
    assert.equal(response.status, 200);
  });

  test('a full MCP session works through the bundle in FC session mode, logging x-fc-request-id', async () => {
    let n = 0;
    // FC's gateway adds these to every request of a function with a role.
    const fcHeaders = () => {
      const id = `fc-req-${++n}-${Date.now()}`;
      requestIds.push(id);
      return {
        'x-fc-request-id': id,
        'x-fc-access-key-id': ROLE.accessKeyId,
        'x-fc-access-key-secret': ROLE.accessKeySecret,
        'x-fc-security-token': ROLE.securityToken,
      };
    };
    const client = new Client({ name: 'fc-contract-test', version: '1.0.0' });
    // Each request gets its own FC headers, as the gateway would add them.
    const fcFetch: typeof fetch = (input, init) => {
      const headers = new Headers(init?.headers);
      for (const [k, v] of Object.entries(fcHeaders())) headers.set(k, v);
      headers.set('authorization', `Bearer ${AUTH_TOKEN}`);
      return fetch(input, { ...init, headers });
    };
    await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), { fetch: fcFetch }));
    try {
      const created = await call(client, 'create_context', { language: 'python' });
      assert.notEqual(created.isError, true, textOf(created));
      const contextId = structured<{ context_id: string }>(created).context_id;
      assert.equal(api.sessions.size, 1, 'create_context made one FC session');
      const [session] = [...api.sessions.values()];
      assert.equal(session!.sessionTTLInSeconds, sandboxProps.sessionAffinityConfig.sessionTTLInSeconds);

      const run = await call(client, 'run_code', { context_id: contextId, code: 'x = 6 * 7\nprint("from FC")\nx' });
      assert.notEqual(run.isError, true, textOf(run));
      const out = structured<{ stdout: string; results: { is_main_result: boolean; text?: string }[] }>(run);
      assert.equal(out.stdout, 'from FC\n');
      assert.equal(out.results.find((r) => r.is_main_result)?.text, '42');

      const listed = structured<{ contexts: { context_id: string }[] }>(await call(client, 'list_contexts')).contexts;
      assert.ok(listed.some((c) => c.context_id === contextId));

      const stopped = await call(client, 'stop_context', { context_id: contextId });
      assert.notEqual(stopped.isError, true, textOf(stopped));
      assert.equal(api.sessions.size, 0, 'stop_context deleted the now empty session');
    } finally {
      await client.close();
    }

    assert.ok(gateway.passed > 0, 'sandbox calls went through the signature-checking gateway');
    assert.deepEqual(gateway.refused, [], 'every sandbox call was signed');
    assert.deepEqual([...new Set(api.accepted.map((r) => r.action))].sort(), ['CreateSession', 'DeleteSession', 'ListSessions']);

    const logged = new Set(
      output()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => (JSON.parse(l) as { request_id?: string }).request_id)
        .filter(Boolean),
    );
    const seen = requestIds.filter((id) => logged.has(id));
    assert.ok(seen.length > 0, `no log line carries an x-fc-request-id we sent; log:\n${output()}`);
  });

  test('FC session mode without a setting it needs stops at start with one clear line', async () => {
    const env = {
      ...(mcp.environmentVariables as Record<string, string>),
      SANDBOX_URL: gateway.url,
      FC_CUSTOM_LISTEN_PORT: String(await freePort()),
      FC_REGION: mcp.region,
      PATH: '/usr/bin:/bin',
    };
    const failing = spawnFcProcess(codeDir, mcp.customRuntimeConfig, env);
    let output = '';
    failing.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    failing.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const [code] = (await once(failing, 'exit')) as [number | null];
    assert.equal(code, 2);
    assert.equal(output.trim(), 'configuration error: FC_ACCOUNT_ID: required when SANDBOX_SESSION_MODE=fc');
  });

  test('the FC bundle holds no part of the sandbox service (zeromq, deno, src/sandbox-service)', async () => {
    const files = (await readdir(join(codeDir, 'dist'), { recursive: true })).map(String);
    const fcFiles = files.filter((f) => f.endsWith('.js') && f !== 'stdio.js');
    assert.ok(fcFiles.includes('fc.js') && fcFiles.length > 1, 'fc.js and its chunks');
    for (const file of fcFiles.map((f) => `${f}.map`)) {
      const map = JSON.parse(await readFile(join(codeDir, 'dist', file), 'utf8')) as { sources: string[] };
      const offending = map.sources.filter((source) => /zeromq|node_modules\/deno\/|@deno\/|sandbox-service/.test(source));
      assert.deepEqual(offending, [], file);
    }
  });

  test('dist/stdio.js, the package bin, serves MCP over stdio to the official client', async () => {
    const client = new Client({ name: 'fc-contract-stdio', version: '1.0.0' });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [join(ROOT, 'dist/stdio.js')],
        env: { PATH: '/usr/bin:/bin', SANDBOX_URL: sandbox.url, CONTEXT_SECRET: 'stdio-contract-secret-0123456789' },
        stderr: 'ignore',
      }),
    );
    try {
      const run = await call(client, 'run_code', { code: '6 * 7' });
      assert.notEqual(run.isError, true, textOf(run));
      assert.match(textOf(run), /42/);
    } finally {
      await client.close();
    }
  });

  test('the bundle needs no node_modules: the code folder holds dist/ only', async () => {
    const exited = child.exitCode;
    assert.equal(exited, null, 'still running');
    await assert.rejects(readFile(join(codeDir, 'node_modules/.package-lock.json')));
  });
});

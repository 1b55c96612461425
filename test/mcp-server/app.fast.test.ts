// The fast tier: createApp(deps) served in-process (app.request, no sockets, no kernels)
// with a fake sandbox client and fake sessions, spoken to by the official v2 client in
// both eras through a fetch that calls the app. Covers the edge (errors, auth, guard,
// logs) and the tools' logic (failure model, lazy sessions, output schemas) in seconds.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Client, StreamableHTTPClientTransport, type CallToolResult } from '@modelcontextprotocol/client';
import { createApp, type AppDeps } from '../../src/mcp-server/app.ts';
import { createContextIdCodec } from '../../src/mcp-server/context-ids/context-id.ts';
import { createLogger } from '../../src/shared/logger.ts';
import { createDownloadBudget } from '../../src/mcp-server/net/download-budget.ts';
import { createCodeInterpreterCatalog, TOOLS } from '../../src/mcp-server/server/code-interpreter-tools.ts';
import { Refusal } from '../../src/mcp-server/refusal.ts';
import type { Execution, SandboxClient } from '../../src/mcp-server/sandbox-client/client.ts';
import type { Context, ResultEvent } from '../../src/protocol/sandbox-api.ts';
import type { SandboxSessionsFactory } from '../../src/mcp-server/sessions/types.ts';
import { oneDirectSession } from '../support/one-session.ts';
import { ERAS, MODERN_VERSION, TOOL_NAMES, type Era } from '../support/mcp-harness.ts';
import { loadConfig } from '../../src/mcp-server/config.ts';

const ORIGIN = 'http://127.0.0.1:3000';

const noFileApi = async (): Promise<never> => {
  throw new Refusal('sandbox_no_file_api', 'this sandbox has no file API', { status: 404 });
};

const noRuns = async (): Promise<never> => {
  throw new Refusal('sandbox_not_found', 'unknown run', { status: 404 });
};

/** An in-memory sandbox: contexts per session, and run_code answering `print(<n>)` with n. */
function fakeSandbox(options: { fail?: Refusal } = {}): SandboxClient & { contexts: Map<string, Context[]> } {
  const contexts = new Map<string, Context[]>();
  let next = 1;
  const guard = () => {
    if (options.fail) throw options.fail;
  };
  return {
    baseUrl: 'http://fake-sandbox.invalid',
    features: {},
    contexts,
    async health() {
      guard();
      return { status: 'healthy', url: 'http://fake-sandbox.invalid', responseCode: 200, latencyMs: 1 };
    },
    async createContext(session, request) {
      guard();
      const context: Context = {
        id: `k${next++}`,
        language: request.language ?? 'python',
        cwd: '/home/user',
        created_at: new Date().toISOString(),
        metadata: request.metadata,
      };
      contexts.set(session, [...(contexts.get(session) ?? []), context]);
      return context;
    },
    async listContexts(session) {
      guard();
      return contexts.get(session) ?? [];
    },
    async setNetwork(session, id, policy) {
      guard();
      const context = (contexts.get(session) ?? []).find((c) => c.id === id);
      if (!context) throw new Refusal('sandbox_not_found', 'unknown or expired context', { status: 404 });
      Object.assign(context, { allowOut: policy.allowOut ?? [], denyOut: policy.denyOut ?? [] });
      return context;
    },
    async deleteContext(session, id) {
      guard();
      const list = contexts.get(session) ?? [];
      if (!list.some((c) => c.id === id)) throw new Refusal('sandbox_not_found', 'unknown or expired context', { status: 404 });
      contexts.set(
        session,
        list.filter((c) => c.id !== id),
      );
    },
    async listSessions() {
      guard();
      return [...contexts.keys()];
    },
    readFile: noFileApi,
    writeFile: noFileApi,
    uploadFile: noFileApi,
    downloadFile: noFileApi,
    listFiles: noFileApi,
    statFile: noFileApi,
    runEvents: noRuns,
    interruptRun: noRuns,
    // "huge-failure" fails with 100 KB of output (its first and last lines marked); anything else installs.
    async installPackages(session, id, request) {
      guard();
      if (!(contexts.get(session) ?? []).some((c) => c.id === id))
        throw new Refusal('sandbox_not_found', 'unknown or expired context', { status: 404 });
      if (request.packages[0] === 'huge-failure') {
        const output = `FIRST LINE\n${'pip says something long\n'.repeat(4000)}ERROR: LAST LINE\n`;
        return { manager: 'pip', ok: false, installed: [], output, exit_code: 1 };
      }
      const installed = request.packages.map((name) => ({ name, version: '1.0' }));
      return { manager: 'pip', ok: true, installed, output: 'Successfully installed', exit_code: 0 };
    },
    async interruptTagged() {
      return undefined;
    },
    async execute(session, request): Promise<Execution> {
      guard();
      if (request.context_id && !(contexts.get(session) ?? []).some((c) => c.id === request.context_id)) {
        throw new Refusal('sandbox_not_found', 'unknown or expired context', { status: 404 });
      }
      const printed = /print\((.*)\)/.exec(request.code)?.[1];
      // `plot`: a display with a chart's E2B-side extras (data, chart, extra), which are no formats.
      const results: ResultEvent[] =
        request.code === 'plot'
          ? [
              {
                type: 'result',
                text: '<Figure>',
                png: 'iVBORw0KGgo=',
                data: { x: [1] },
                chart: { type: 'line' },
                extra: {},
                is_main_result: false,
              },
            ]
          : [];
      return { stdout: printed ? `${printed}\n` : '', stderr: '', results, executionCount: 1, complete: true };
    },
  };
}

function makeApp(overrides: Partial<AppDeps> & { authTokens?: string[]; maxBodyBytes?: number } = {}) {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'info', write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  const sandbox = fakeSandbox();
  const app = createApp({
    config: {
      // The defaults, as the server reads them from an empty environment, then this tier's own.
      ...loadConfig({}),
      path: '/mcp',
      host: '127.0.0.1',
      authTokens: (overrides.authTokens ?? []).map((token) => ({ tenant: 'test', token })),
      maxBodyBytes: overrides.maxBodyBytes ?? 1_000_000,
      runTimeoutSeconds: 30,
      transport: 'http',
      maxFileBytes: 1_000_000,
      fetchAllowHosts: [],
      maxContextsPerTenant: 0,
    },
    sessions: overrides.sessions ?? oneDirectSession(),
    sandboxClientFor: overrides.sandboxClientFor ?? (() => sandbox),
    contexts: createContextIdCodec('fast-tier-secret-0123456789'),
    catalog: createCodeInterpreterCatalog(),
    downloads: createDownloadBudget(64 * 1024 * 1024),
    logger,
  });
  const fetchApp = (input: string | URL | Request, init?: RequestInit) =>
    Promise.resolve(app.request(input instanceof Request ? input : new Request(input, init)));
  return { app, lines, sandbox, fetchApp };
}

async function clientFor(
  fetchApp: (input: string | URL | Request, init?: RequestInit) => Promise<Response>,
  era: Era,
  headers: Record<string, string> = {},
) {
  const client = new Client(
    { name: 'fast-tier', version: '1' },
    { versionNegotiation: { mode: era === 'modern' ? { pin: MODERN_VERSION } : 'legacy' } },
  );
  await client.connect(new StreamableHTTPClientTransport(new URL(`${ORIGIN}/mcp`), { fetch: fetchApp, requestInit: { headers } }));
  return client;
}

const post = (body: unknown, headers: Record<string, string> = {}) =>
  new Request(`${ORIGIN}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

const modernMeta = { 'io.modelcontextprotocol/protocolVersion': MODERN_VERSION, 'io.modelcontextprotocol/clientCapabilities': {} };

for (const era of ERAS) {
  describe(`fast tier, ${era} era`, () => {
    test('the code tools, each result checked against its output schema (the file tools: test/mcp-server/file-tools/files.test.ts)', async () => {
      const { fetchApp } = makeApp();
      const client = await clientFor(fetchApp, era);
      const { tools } = await client.listTools();
      assert.equal(tools.length, TOOL_NAMES.length);
      const outputSchemas = new Map(TOOLS.map((t) => [t.name, t.outputSchema]));
      const check = (name: string, result: CallToolResult) => {
        assert.notEqual(result.isError, true, JSON.stringify(result));
        const parsed = outputSchemas.get(name)!.safeParse(result.structuredContent);
        assert.ok(parsed.success, `${name}: ${JSON.stringify(parsed.error?.issues)}`);
      };
      const call = async (name: string, args: Record<string, unknown> = {}) => {
        const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
        check(name, result);
        return result.structuredContent as Record<string, unknown>;
      };
      await call('health_check');
      const { context_id } = (await call('create_context', { description: 'fast' })) as { context_id: string };
      assert.equal(((await call('run_code', { context_id, code: 'print(42)' })) as { stdout: string }).stdout, '42\n');
      await call('run_code', { code: 'print(7)' });
      const plot = (await call('run_code', { context_id, code: 'plot' })) as { results: Array<{ formats: string[] }> };
      assert.deepEqual(plot.results[0]?.formats, ['text', 'png'], 'data, chart and extra are not formats');
      assert.equal(((await call('list_contexts')) as { contexts: unknown[] }).contexts.length, 1, 'the one-off context is gone');
      await call('stop_context', { context_id });
      await client.close();
    });

    test("install_packages: what was installed, or the installer's text bounded to MCP_MAX_TEXT_BYTES, head and tail kept", async () => {
      const { fetchApp } = makeApp();
      const client = await clientFor(fetchApp, era);
      await client.listTools(); // from here on the client checks structuredContent against the output schemas
      const made = (await client.callTool({ name: 'create_context', arguments: {} })) as CallToolResult;
      const { context_id } = made.structuredContent as { context_id: string };
      const done = (await client.callTool({
        name: 'install_packages',
        arguments: { context_id, packages: ['fc-a', 'fc-b==1.0'] },
      })) as CallToolResult;
      assert.equal(done.isError, undefined);
      assert.deepEqual((done.structuredContent as { installed: unknown[] }).installed, [
        { name: 'fc-a', version: '1.0' },
        { name: 'fc-b==1.0', version: '1.0' },
      ]);
      const failed = (await client.callTool({
        name: 'install_packages',
        arguments: { context_id, packages: ['huge-failure'] },
      })) as CallToolResult;
      assert.equal(failed.isError, true);
      assert.equal((failed.structuredContent as { error: { kind: string } }).error.kind, 'install_failed');
      const text = (failed.content[0] as { text: string }).text;
      const max = loadConfig({}).maxTextBytes;
      assert.ok(Buffer.byteLength(text) < max + 1024, `${Buffer.byteLength(text)} bytes`);
      assert.match(text, /^pip install failed \(exit code 1\)/);
      assert.match(text, /FIRST LINE/);
      assert.match(text, /ERROR: LAST LINE\n$/);
      assert.match(text, /bytes of \d+ cut here \(MCP_MAX_TEXT_BYTES=/);
      await client.close();
    });

    test('a missing FC credential fails the tools that need a session, not the handshake or tools/list', async () => {
      const sessions: SandboxSessionsFactory = () => {
        throw new Refusal(
          'session_api',
          'FC session mode has no credentials: give the MCP function a role or set ALIBABA_CLOUD_ACCESS_KEY_ID',
          { operation: 'CreateSession' },
        );
      };
      const { fetchApp } = makeApp({ sessions });
      const client = await clientFor(fetchApp, era);
      assert.equal((await client.listTools()).tools.length, TOOL_NAMES.length);
      const result = (await client.callTool({ name: 'create_context', arguments: {} })) as CallToolResult;
      assert.equal(result.isError, true);
      assert.match((result.content[0] as { text: string }).text, /no credentials.*ALIBABA_CLOUD_ACCESS_KEY_ID/);
      assert.deepEqual((result.structuredContent as { error: { kind: string; operation: string } }).error.kind, 'session_api');
      const health = (await client.callTool({ name: 'health_check', arguments: {} })) as CallToolResult;
      assert.notEqual(health.isError, true, 'health_check needs no session');
      await client.close();
    });

    test('sandbox failures become tool errors with a readable text and structured kind', async () => {
      const failing = fakeSandbox({
        fail: new Refusal('sandbox_timeout', 'create context: the sandbox timed out (HTTP 504)', { status: 504 }),
      });
      const { fetchApp } = makeApp({ sandboxClientFor: () => failing });
      const client = await clientFor(fetchApp, era);
      const result = (await client.callTool({ name: 'create_context', arguments: {} })) as CallToolResult;
      assert.equal(result.isError, true);
      assert.match((result.content[0] as { text: string }).text, /timed out \(HTTP 504\)/);
      assert.deepEqual(result.structuredContent, {
        error: { kind: 'sandbox_timeout', message: 'create context: the sandbox timed out (HTTP 504)', status: 504 },
      });
      const bad = (await client.callTool({ name: 'run_code', arguments: { language: 'cobol', code: '1' } })) as CallToolResult;
      assert.equal((bad.structuredContent as { error: { kind: string } }).error.kind, 'invalid_arguments');
      assert.match((bad.content[0] as { text: string }).text, /^invalid arguments for run_code: language: /);
      await client.close();
    });
  });
}

/**
 * MCP Inspector 2.12's `--strict` schema lint, its two rules that our schemas could break:
 * no `type` written as an array (single-type dialects such as Gemini's reject it) and no
 * node without a validation keyword (it accepts anything). Returns one line per finding.
 */
function portabilityFindings(schema: unknown, path: string): string[] {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return [];
  const node = schema as Record<string, unknown>;
  const findings: string[] = [];
  if (Array.isArray(node.type)) findings.push(`${path}: type is an array ${JSON.stringify(node.type)}`);
  const constraining = [
    'type',
    'enum',
    'const',
    'anyOf',
    'oneOf',
    'allOf',
    'not',
    'properties',
    'additionalProperties',
    'required',
    'items',
    '$ref',
  ];
  if (
    !constraining.some((key) => key in node) &&
    !Object.keys(node).some((key) => /^(min|max|exclusive|pattern|format|multipleOf|unique)/.test(key))
  )
    findings.push(`${path}: no validation keyword`);
  for (const key of ['properties', 'definitions', '$defs', 'patternProperties'])
    for (const [name, sub] of Object.entries((node[key] as Record<string, unknown> | undefined) ?? {}))
      findings.push(...portabilityFindings(sub, `${path}.${key}.${name}`));
  for (const key of ['anyOf', 'oneOf', 'allOf'])
    for (const [i, sub] of ((node[key] as unknown[] | undefined) ?? []).entries())
      findings.push(...portabilityFindings(sub, `${path}.${key}[${i}]`));
  for (const key of ['items', 'additionalProperties', 'not', 'propertyNames'])
    findings.push(...portabilityFindings(node[key], `${path}.${key}`));
  return findings;
}

describe('fast tier, the listed schemas', () => {
  test('portable: no type arrays (nullable fields are anyOf), every node constrains something', async () => {
    const { fetchApp } = makeApp();
    const client = await clientFor(fetchApp, 'modern');
    const { tools } = await client.listTools();
    const findings = tools.flatMap((tool) => [
      ...portabilityFindings(tool.inputSchema, `${tool.name}.inputSchema`),
      ...portabilityFindings(tool.outputSchema, `${tool.name}.outputSchema`),
    ]);
    assert.deepEqual(findings, []);
    // The rewrite kept what it rewrote: health_check's error is still a string or null.
    const health = tools.find((t) => t.name === 'health_check')!.outputSchema as { anyOf: { properties: Record<string, unknown> }[] };
    assert.deepEqual(health.anyOf[0]!.properties.error, { anyOf: [{ type: 'string' }, { type: 'null' }] });
    await client.close();
  });
});

describe('fast tier, the HTTP edge', () => {
  test('2026-07-28: tools/list carries caching hints; a header that disagrees with the body is -32020', async () => {
    const { app } = makeApp();
    const headers = { 'mcp-protocol-version': MODERN_VERSION, 'mcp-method': 'tools/list' };
    const listed = await app.request(post({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: modernMeta } }, headers));
    const body = (await listed.json()) as { result: { ttlMs: number; cacheScope: string; tools: unknown[] } };
    assert.equal(body.result.tools.length, TOOL_NAMES.length);
    assert.equal(body.result.cacheScope, 'public');
    assert.ok(body.result.ttlMs > 0);
    const mismatch = await app.request(
      post({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: { _meta: modernMeta } }, { ...headers, 'mcp-method': 'tools/call' }),
    );
    assert.equal(mismatch.status, 400);
    assert.equal(((await mismatch.json()) as { error: { code: number } }).error.code, -32020);
  });

  test('a 2025 request without initialize is served, as before', async () => {
    const { app } = makeApp();
    const response = await app.request(
      post({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'health_check', arguments: {} } }),
    );
    assert.equal(response.status, 200);
    assert.match(await response.text(), /"status":"healthy"/);
  });

  test('401 is the same JSON-RPC body with WWW-Authenticate on /mcp and /invoke', async () => {
    const { app } = makeApp({ authTokens: ['secret-token'] });
    for (const path of ['/mcp', '/invoke']) {
      const response = await app.request(
        new Request(`${ORIGIN}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: 'Bearer wrong' },
          body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
        }),
      );
      assert.equal(response.status, 401, path);
      assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer realm="mcp", error="invalid_token"/, path);
      const body = (await response.json()) as { jsonrpc: string; id: null; error: { code: number; message: string } };
      assert.deepEqual({ jsonrpc: body.jsonrpc, id: body.id, code: body.error.code }, { jsonrpc: '2.0', id: null, code: -32001 }, path);
      assert.match(body.error.message, /^Unauthorized: /, path);
    }
  });

  test('every refusal has the JSON-RPC error shape: bad JSON, oversized, foreign Host, unknown path, wrong method', async () => {
    const { app } = makeApp({ maxBodyBytes: 100 });
    const cases: [Request, number, number][] = [
      [post('{"jsonrpc":'), 400, -32700],
      [post({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { pad: 'x'.repeat(200) } }), 413, -32000],
      [new Request(`http://evil.example/mcp`, { method: 'POST', body: '{}' }), 403, -32000],
      [new Request(`${ORIGIN}/nowhere`), 404, -32601],
      [new Request(`${ORIGIN}/mcp`), 405, -32000],
    ];
    for (const [request, status, code] of cases) {
      const response = await app.request(request);
      assert.equal(response.status, status, `${request.method} ${request.url}`);
      const body = (await response.json()) as { jsonrpc: string; error: { code: number; message: string } };
      assert.equal(body.jsonrpc, '2.0');
      assert.equal(body.error.code, code, `${request.method} ${request.url}: ${body.error.message}`);
    }
  });

  test("GET /health is liveness; GET /health_check (the original server's path) answers the sandbox's health", async () => {
    const { app } = makeApp();
    const live = await app.request(`${ORIGIN}/health`);
    assert.equal(live.status, 200);
    assert.deepEqual(await live.json(), { status: 'ok' });
    const check = await app.request(`${ORIGIN}/health_check`);
    assert.equal(check.status, 200);
    const body = (await check.json()) as Record<string, unknown>;
    // No token asked: the sandbox's address (and error text, which names it) stay with the tool.
    assert.deepEqual(Object.keys(body).sort(), ['latency_ms', 'response_code', 'status', 'timestamp']);
    assert.equal(body.status, 'healthy');
  });

  test('one info line per MCP request: request id (x-fc-request-id), method, tool, outcome, duration', async () => {
    const { app, lines } = makeApp();
    const response = await app.request(
      post(
        { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'run_code', arguments: { code: 'print(1)' } } },
        { 'x-fc-request-id': 'fc-42' },
      ),
    );
    assert.deepEqual(lines, [], 'a streamed answer is logged when its stream ends');
    await response.text();
    assert.equal(lines.length, 1, JSON.stringify(lines));
    const line = (lines as Record<string, unknown>[])[0]!;
    assert.equal(line.level, 'info');
    assert.equal(line.request_id, 'fc-42');
    assert.equal(line.method, 'tools/call');
    assert.equal(line.tool, 'run_code');
    assert.equal(line.outcome, 'ok');
    assert.equal(line.era, 'legacy');
    assert.equal(typeof line.duration_ms, 'number');
  });
});

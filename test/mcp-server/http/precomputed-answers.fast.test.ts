// tools/list, initialize and server/discover answered from the SDK's own answer, kept per request
// shape: byte for byte what the SDK answers (a fresh app is the SDK's), in both eras, with no MCP
// server made for a kept answer; auth still first; a request of another shape is the SDK's again.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createApp } from '../../../src/mcp-server/app.ts';
import { loadConfig } from '../../../src/mcp-server/config.ts';
import { createContextIdCodec } from '../../../src/mcp-server/context-ids/context-id.ts';
import { MAX_SHAPES } from '../../../src/mcp-server/http/precomputed-answers.ts';
import { createDownloadBudget } from '../../../src/mcp-server/net/download-budget.ts';
import type { SandboxClient } from '../../../src/mcp-server/sandbox-client/client.ts';
import { createCodeInterpreterCatalog } from '../../../src/mcp-server/server/code-interpreter-tools.ts';
import { createLogger } from '../../../src/shared/logger.ts';
import { oneDirectSession } from '../../support/one-session.ts';

const ORIGIN = 'http://127.0.0.1:3000';
const TOKEN = 'precomputed-token';
const MODERN = '2026-07-28';
const META = { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {} };

/** The app with a count of the MCP servers it made (each makes one sandbox client), and its log lines. */
function makeApp() {
  const lines: Record<string, unknown>[] = [];
  let servers = 0;
  const app = createApp({
    config: {
      ...loadConfig({}),
      path: '/mcp',
      host: '127.0.0.1',
      authTokens: [{ tenant: 'test', token: TOKEN }],
      maxBodyBytes: 1_000_000,
      transport: 'http',
    },
    sessions: oneDirectSession(),
    sandboxClientFor: () => {
      servers++;
      return {} as SandboxClient;
    },
    contexts: createContextIdCodec('precomputed-secret-0123456789'),
    catalog: createCodeInterpreterCatalog(),
    downloads: createDownloadBudget(1024 * 1024),
    logger: createLogger({ level: 'info', write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) }),
  });
  return { app, lines, servers: () => servers };
}

interface Sent {
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

async function send(app: ReturnType<typeof makeApp>['app'], { body, headers = {} }: Sent, token = TOKEN) {
  const response = await app.request(
    new Request(`${ORIGIN}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${token}`,
        ...headers,
      },
      body: JSON.stringify(body),
    }),
  );
  const text = await response.text();
  return { status: response.status, type: response.headers.get('content-type'), cache: response.headers.get('cache-control'), text };
}

const withId = (sent: Sent, id: string | number): Sent => ({ ...sent, body: { ...sent.body, id } });

const REQUESTS: Record<string, Sent> = {
  'tools/list, 2025': { body: { jsonrpc: '2.0', id: 1, method: 'tools/list' } },
  'tools/list, 2025 with the version header': {
    body: { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} },
    headers: { 'mcp-protocol-version': '2025-11-25' },
  },
  'tools/list, 2026-07-28': {
    body: { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: META } },
    headers: { 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/list' },
  },
  'initialize, 2025': {
    body: {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
    },
  },
  'server/discover, 2026-07-28': {
    body: { jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: META } },
    headers: { 'mcp-protocol-version': MODERN, 'mcp-method': 'server/discover' },
  },
};

describe('precomputed answers', () => {
  for (const [name, sent] of Object.entries(REQUESTS)) {
    test(`${name}: kept after the first, the SDK's bytes with the request's id, no MCP server made`, async () => {
      const { app, lines, servers } = makeApp();
      const first = await send(app, withId(sent, 7));
      assert.equal(first.status, 200, first.text);
      assert.match(first.text, /"result"/);
      assert.equal(servers(), 1);
      for (const id of ['req-"quoted"-id', 8, 0]) {
        // What the SDK answers this id with: a fresh app has kept nothing.
        const fresh = await send(makeApp().app, withId(sent, id));
        const again = await send(app, withId(sent, id));
        assert.deepEqual(again, fresh);
      }
      assert.equal(servers(), 1, 'kept answers make no MCP server');
      const logged = lines.filter((line) => line.msg === 'mcp request');
      assert.equal(logged.length, 4);
      const method = sent.body.method;
      const era = sent.headers?.['mcp-method'] ? 'modern' : 'legacy';
      for (const line of logged)
        assert.deepEqual([line.method, line.era, line.outcome, line.status, line.tenant], [method, era, 'ok', 200, 'test']);
    });
  }

  test('auth runs before a kept answer', async () => {
    const { app, servers } = makeApp();
    const sent = REQUESTS['tools/list, 2025']!;
    assert.equal((await send(app, sent)).status, 200);
    assert.equal((await send(app, sent, 'wrong-token')).status, 401);
    assert.equal(servers(), 1);
  });

  test('a request of another shape is the SDK’s: a wrong header is refused every time, nothing kept from it', async () => {
    const { app } = makeApp();
    const good = REQUESTS['tools/list, 2026-07-28']!;
    assert.equal((await send(app, good)).status, 200);
    const mismatched: Sent = { ...good, headers: { 'mcp-protocol-version': MODERN, 'mcp-method': 'prompts/list' } };
    const fresh = await send(makeApp().app, mismatched);
    assert.notEqual(fresh.status, 200);
    for (let i = 0; i < 2; i++) assert.deepEqual(await send(app, mismatched), fresh);
    const unknownVersion: Sent = {
      body: { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      headers: { 'mcp-protocol-version': '1999-01-01' },
    };
    const refused = await send(makeApp().app, unknownVersion);
    assert.equal(refused.status, 400);
    for (let i = 0; i < 2; i++) assert.deepEqual(await send(app, unknownVersion), refused);
  });

  test(`at most ${MAX_SHAPES} shapes are kept; later shapes are still answered, by the SDK`, async () => {
    const { app, servers } = makeApp();
    const shape = (n: number): Sent => ({
      body: {
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: `client-${n}`, version: '1' } },
      },
    });
    for (let n = 0; n < MAX_SHAPES + 5; n++) assert.equal((await send(app, shape(n))).status, 200);
    assert.equal(servers(), MAX_SHAPES + 5);
    for (let n = 0; n < MAX_SHAPES + 5; n++) assert.equal((await send(app, shape(n))).status, 200);
    assert.equal(servers(), MAX_SHAPES + 5 + 5, 'the kept shapes make no server, the others one each');
  });
});

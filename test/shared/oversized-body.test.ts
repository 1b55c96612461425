/**
 * An oversized request always gets its 413 and its message, never a reset connection
 *: on every route with a body limit (the MCP server's /mcp, /invoke and
 * legacy /messages, as `npm start` runs it; the sandbox service's API), 20 requests
 * at each of three sizes (just over the limit, 2.5x, 8x), with and without
 * Content-Length, with fetch and with the official MCP clients (1.x and 2.x); then a
 * kept-alive client's next request works. All of it once more with a CPU-bound process
 * beside it, since a busy machine is when the race showed; and a sender that never
 * stops is cut off once it has had its answer and the lingering bound is spent.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { Agent } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Client as Client1 } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport as SSEClientTransport1 } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport as StreamableHTTPClientTransport1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { TOOL_NAMES } from '../support/mcp-harness.ts';
import { onAgent } from '../support/on-agent.ts';
import { Client, SSEClientTransport, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { RunningSandbox } from '../../src/sandbox-service/index.ts';
import { filesBodyLimit } from '../../src/sandbox-service/http/file-routes.ts';
import { startMcp, startTestSandbox, type McpProcess } from '../support/mcp-harness.ts';
import { freePort, stopChild } from '../support/processes.ts';

/** Small limits (the defaults are 8 MiB), large enough that 8x outruns what the sockets buffer. */
const MCP_LIMIT = 1024 * 1024;
const SANDBOX_LIMIT = 1024 * 1024;
const UPLOAD_MB = 1;
const ROUNDS = 20;
const sizesFor = (limit: number) => [limit + 1024, Math.round(limit * 2.5), limit * 8];

const MCP_REFUSAL = new RegExp(`Payload Too Large: .* must not exceed ${MCP_LIMIT} bytes`);
const SANDBOX_REFUSAL = /request body too large \(limit \d+ bytes/;
const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const LIST = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });

/** A JSON-RPC tools/call of about `size` bytes. */
const rpcOf = (size: number) =>
  JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'run_code', arguments: { code: 'x'.repeat(size) } } });

let mcp: McpProcess;
let sandbox: RunningSandbox;

before(async () => {
  // Nothing listens at SANDBOX_URL: every oversized request is refused before a tool could run.
  const deadSandbox = `http://127.0.0.1:${await freePort()}`;
  [mcp, sandbox] = await Promise.all([
    startMcp({ SANDBOX_URL: deadSandbox, MCP_TRANSPORT: 'sse', MCP_MAX_BODY_BYTES: String(MCP_LIMIT) }),
    startTestSandbox({ maxBodyBytes: SANDBOX_LIMIT, maxUploadMb: UPLOAD_MB }),
  ]);
});

after(async () => {
  await Promise.all([mcp?.stop(), sandbox?.close()]);
});

/** What one request came to: "413 + message" when all is well, else the status and text, or the network error. */
async function outcomeOf(send: () => Promise<Response>, refusal: RegExp): Promise<string> {
  try {
    const response = await send();
    const text = await response.text();
    return response.status === 413 && refusal.test(text) ? '413 + message' : `${response.status} ${text.slice(0, 200)}`;
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return `${(error as Error).message} (${cause?.code ?? cause?.message ?? 'no cause'})`;
  }
}

/** `ROUNDS` requests at each size; every outcome is listed, so a failure shows how many and which. */
async function everyOutcome(limit: number, attempt: (size: number) => Promise<string>): Promise<string[]> {
  const outcomes: string[] = [];
  for (const size of sizesFor(limit)) {
    for (let i = 0; i < ROUNDS; i++) {
      const outcome = await attempt(size);
      if (outcome !== '413 + message') outcomes.push(`${size} bytes: ${outcome}`);
    }
  }
  return outcomes;
}

/**
 * The HTTP status an MCP client's error carries: 2.x SdkHttpError's `status`, 1.x
 * StreamableHTTPError's numeric `code`, or the SSE transports' "(HTTP 413)" in the message.
 */
function statusOf(error: unknown): number | undefined {
  const { status, code, message } = error as { status?: unknown; code?: unknown; message?: string };
  if (typeof status === 'number') return status;
  if (typeof code === 'number') return code;
  const match = /\(HTTP (\d{3})\)/.exec(message ?? '');
  return match ? Number(match[1]) : undefined;
}

/** fetch, with the body as a string (Content-Length) or as a stream (chunked). */
function post(url: string, body: string, headers: Record<string, string>, chunked: boolean): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers,
    body: chunked ? new Blob([body]).stream() : body,
    duplex: 'half',
  } as RequestInit);
}

/** The legacy SSE endpoint's message URL for a fresh GET /sse (whose stream is then left open until `close`). */
async function legacySession(): Promise<{ messages: string; close(): void }> {
  const abort = new AbortController();
  const stream = await fetch(`${mcp.origin}/sse`, { headers: { accept: 'text/event-stream' }, signal: abort.signal });
  const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`GET /sse ended without an endpoint event: ${text}`);
    text += value;
    const match = /event: endpoint\ndata: (\S+)/.exec(text);
    if (match) return { messages: new URL(match[1]!, mcp.origin).href, close: () => abort.abort() };
  }
}

interface FetchRoute {
  name: string;
  limit: number;
  refusal: RegExp;
  /** Where oversized bodies go, and the headers they carry. */
  target(): Promise<{ url: string; headers: Record<string, string>; body: (size: number) => string; done?: () => void }>;
  /** A request the route serves: it must succeed on the agent right after a 413. */
  served(agent: Agent, url: string): Promise<{ status: number; text: string }>;
  okStatus: number;
}

const sandboxHeaders = () => ({ 'content-type': 'application/json' });
const FETCH_ROUTES: FetchRoute[] = [
  {
    name: 'MCP POST /mcp',
    limit: MCP_LIMIT,
    refusal: MCP_REFUSAL,
    target: async () => ({ url: mcp.url, headers: JSON_HEADERS, body: rpcOf }),
    served: (agent, url) => onAgent(agent, url, 'POST', JSON_HEADERS, LIST),
    okStatus: 200,
  },
  {
    name: 'MCP POST /invoke',
    limit: MCP_LIMIT,
    refusal: MCP_REFUSAL,
    target: async () => ({ url: `${mcp.origin}/invoke`, headers: JSON_HEADERS, body: rpcOf }),
    served: (agent, url) => onAgent(agent, url, 'POST', JSON_HEADERS, LIST),
    okStatus: 200,
  },
  {
    name: 'MCP legacy POST /messages',
    limit: MCP_LIMIT,
    refusal: MCP_REFUSAL,
    target: async () => {
      const session = await legacySession();
      return { url: session.messages, headers: JSON_HEADERS, body: rpcOf, done: session.close };
    },
    served: (agent, url) =>
      onAgent(agent, url, 'POST', JSON_HEADERS, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })),
    okStatus: 202,
  },
  {
    name: 'sandbox POST /execute',
    limit: SANDBOX_LIMIT,
    refusal: SANDBOX_REFUSAL,
    target: async () => ({
      url: `${sandbox.url}/execute`,
      headers: sandboxHeaders(),
      body: (size) => JSON.stringify({ code: 'x'.repeat(size) }),
    }),
    // Nothing is asked to run: listing the (no) contexts is the request the connection must still serve.
    served: (agent) => onAgent(agent, `${sandbox.url}/contexts`, 'GET', {}),
    okStatus: 200,
  },
  {
    name: 'sandbox POST /files',
    limit: filesBodyLimit(UPLOAD_MB * 1024 * 1024),
    refusal: SANDBOX_REFUSAL,
    target: async () => ({
      url: `${sandbox.url}/files`,
      headers: sandboxHeaders(),
      body: (size) => JSON.stringify({ path: 'big.txt', content: 'x'.repeat(size) }),
    }),
    served: (agent) => onAgent(agent, `${sandbox.url}/contexts`, 'GET', {}),
    okStatus: 200,
  },
];

/** The MCP clients; each connects, then sends oversized tools/calls through its own transport. */
interface McpClientKind {
  name: string;
  connect(): Promise<{
    callTool(params: { name: string; arguments: Record<string, unknown> }): Promise<unknown>;
    listTools(): Promise<{ tools: unknown[] }>;
    close(): Promise<void>;
  }>;
}

const MCP_CLIENTS: McpClientKind[] = [
  {
    name: '@modelcontextprotocol/sdk 1.x StreamableHTTPClientTransport on /mcp',
    async connect() {
      const client = new Client1({ name: 'oversized-test', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport1(new URL(mcp.url)));
      return client;
    },
  },
  {
    name: '@modelcontextprotocol/client 2.x StreamableHTTPClientTransport on /mcp',
    async connect() {
      const client = new Client({ name: 'oversized-test', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(mcp.url)));
      return client;
    },
  },
  {
    name: '@modelcontextprotocol/sdk 1.x SSEClientTransport on /messages',
    async connect() {
      const client = new Client1({ name: 'oversized-test', version: '1.0.0' });
      await client.connect(new SSEClientTransport1(new URL(`${mcp.origin}/sse`)));
      return client;
    },
  },
  {
    name: '@modelcontextprotocol/client 2.x SSEClientTransport on /messages',
    async connect() {
      const client = new Client({ name: 'oversized-test', version: '1.0.0' });
      await client.connect(new SSEClientTransport(new URL(`${mcp.origin}/sse`)));
      return client;
    },
  },
];

/** Every route and client, as one suite: run idle, then beside a CPU-bound process. */
function oversizedSuite(): void {
  for (const route of FETCH_ROUTES) {
    for (const chunked of [false, true]) {
      const how = chunked ? 'chunked' : 'with Content-Length';
      test(`${route.name}, ${how}: ${ROUNDS} oversized requests per size get 413 + message; a kept-alive agent's next request works`, async () => {
        const target = await route.target();
        try {
          const bodies = new Map(sizesFor(route.limit).map((size) => [size, target.body(size)]));
          const failures = await everyOutcome(route.limit, (size) =>
            outcomeOf(() => post(target.url, bodies.get(size)!, target.headers, chunked), route.refusal),
          );
          assert.deepEqual(failures, [], `${failures.length} of ${3 * ROUNDS} did not read their 413`);

          const agent = new Agent({ keepAlive: true, maxSockets: 1 });
          try {
            const big = await onAgent(agent, target.url, 'POST', target.headers, bodies.get(sizesFor(route.limit)[2]!));
            assert.equal(big.status, 413);
            assert.match(big.text, route.refusal);
            assert.equal(big.connection, 'close', 'the unread body is not left on the connection');
            const next = await route.served(agent, target.url);
            assert.equal(next.status, route.okStatus, next.text);
          } finally {
            agent.destroy();
          }
        } finally {
          target.done?.();
        }
      });
    }
  }

  for (const kind of MCP_CLIENTS) {
    test(`${kind.name}: ${ROUNDS} oversized tools/call per size are refused with 413 + message; the client then lists tools`, async () => {
      const client = await kind.connect();
      try {
        const failures = await everyOutcome(MCP_LIMIT, async (size) => {
          try {
            await client.callTool({ name: 'run_code', arguments: { code: 'x'.repeat(size) } });
            return 'answered';
          } catch (error) {
            const message = (error as Error).message;
            return statusOf(error) === 413 && MCP_REFUSAL.test(message) ? '413 + message' : message.slice(0, 300);
          }
        });
        assert.deepEqual(failures, [], `${failures.length} of ${3 * ROUNDS} did not read their 413`);
        assert.equal((await client.listTools()).tools.length, TOOL_NAMES.length);
      } finally {
        await client.close();
      }
    });
  }
}

describe('on an idle machine', () => {
  oversizedSuite();

  test('a slow sender that never stops gets its 413, then is cut off once the lingering bound is spent', async () => {
    const { hostname, port } = new URL(mcp.url);
    const socket = tcpConnect(Number(port), hostname);
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => (received += chunk));
    socket.on('error', () => {}); // the reset that ends it, once the bound is spent
    const closed = once(socket, 'close');
    let open = true;
    void closed.then(() => (open = false));
    socket.write(`POST /mcp HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
    // Past the limit at once, then 64 KiB every 20 ms for as long as the server reads:
    // slow enough that the time bound, not the size bound, ends it.
    for (let sent = 0; sent <= MCP_LIMIT; sent += chunk.length) socket.write(frame);
    while (open) {
      socket.write(frame);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.match(received, /^HTTP\/1\.1 413 /);
    assert.match(received, /connection: close/i);
    assert.match(received, MCP_REFUSAL);
    assert.equal((await fetch(`${mcp.origin}/health`)).status, 200, 'the server stays up');
  });
});

describe('beside a CPU-bound process', () => {
  let hog: ChildProcess;
  before(() => {
    hog = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
  });
  after(async () => {
    if (hog) await stopChild(hog);
  });
  oversizedSuite();
});

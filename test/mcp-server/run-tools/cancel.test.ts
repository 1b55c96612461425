// Cancelling a run_code in the 2025 form over HTTP, the default of both official clients: the
// cancel is `notifications/cancelled` on a new POST, sent here to a second MCP server process
// (any instance may get it; nothing is shared between the two but the sandbox). It must stop the
// code: the aborted call returns, its side effect never happens, and the next call on the context
// answers at once. Another tenant's forged cancel stops nothing. Real processes, real clients:
// the 1.x client (@modelcontextprotocol/sdk 1.32.2) and the 2.x client in its 2025 form.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { rawPost, startMcp, startTestSandbox, type McpProcess } from '../../support/mcp-harness.ts';

const ALICE = 'alice-token-0123456789abcdef';
const BOB = 'bob-token-0123456789abcdefgh';
let sandbox: RunningSandbox;
let first: McpProcess;
let second: McpProcess;

before(async () => {
  sandbox = await startTestSandbox();
  const env = { SANDBOX_URL: sandbox.url, MCP_AUTH_TOKEN: `alice:${ALICE},bob:${BOB}` };
  [first, second] = await Promise.all([startMcp(env), startMcp(env)]);
});

after(async () => {
  await Promise.all([first?.stop(), second?.stop()]);
  await sandbox?.close();
});

type CallResult = { isError?: boolean; content: { type: string; text?: string }[]; structuredContent?: Record<string, unknown> };

/** What the test needs of either client. */
interface AnyClient {
  callTool(
    params: { name: string; arguments: Record<string, unknown> },
    options?: { signal?: AbortSignal; onprogress?: (progress: { message?: string }) => void },
  ): Promise<CallResult>;
  listTools(): Promise<unknown>;
  close(): Promise<void>;
}

/**
 * A fetch that sends every `notifications/cancelled` to the second server (the call itself goes
 * to the first), and tells the test each tools/call's JSON-RPC id.
 */
function routingFetch(onCallId: (id: string | number) => void): typeof fetch {
  return async (input, init) => {
    const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as { method?: string; id?: string | number }) : undefined;
    if (body?.method === 'tools/call' && body.id !== undefined) onCallId(body.id);
    const url = body?.method === 'notifications/cancelled' ? second.url : input;
    return fetch(url, init);
  };
}

const CLIENTS: Record<string, (token: string, onCallId?: (id: string | number) => void) => Promise<AnyClient>> = {
  '1.x client': async (token, onCallId = () => {}) => {
    const client = new ClientV1({ name: 'cancel-test', version: '1.0.0' });
    await client.connect(
      new TransportV1(new URL(first.url), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
        fetch: routingFetch(onCallId),
      }),
    );
    // 1.x takes a result schema before the options.
    return {
      callTool: (params, options) => client.callTool(params, undefined, options) as Promise<CallResult>,
      listTools: () => client.listTools(),
      close: () => client.close(),
    };
  },
  '2.x client, 2025 form': async (token, onCallId = () => {}) => {
    const client = new ClientV2({ name: 'cancel-test', version: '1.0.0' }, { versionNegotiation: { mode: 'legacy' } });
    await client.connect(
      new TransportV2(new URL(first.url), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
        fetch: routingFetch(onCallId),
      }),
    );
    return client as unknown as AnyClient;
  },
};

function stdoutOf(result: CallResult): string {
  assert.notEqual(result.isError, true, JSON.stringify(result.content));
  return String(result.structuredContent?.stdout);
}

for (const [name, connectAs] of Object.entries(CLIENTS)) {
  describe(name, () => {
    let alice: AnyClient;
    let callIds: (string | number)[];
    before(async () => {
      callIds = [];
      alice = await connectAs(ALICE, (id) => callIds.push(id));
      await alice.listTools();
    });
    after(() => alice?.close());

    async function newContext(client: AnyClient): Promise<string> {
      const created = await client.callTool({ name: 'create_context', arguments: {} });
      assert.notEqual(created.isError, true, JSON.stringify(created.content));
      return String(created.structuredContent?.context_id);
    }

    /** Starts a run that prints "started", sleeps, then sets y; resolves once it is running. */
    async function startSleeper(client: AnyClient, contextId: string, seconds: number, signal?: AbortSignal) {
      let started!: () => void;
      const running = new Promise<void>((resolve) => (started = resolve));
      const result = client.callTool(
        {
          name: 'run_code',
          arguments: { context_id: contextId, code: `import time\nprint("started", flush=True)\ntime.sleep(${seconds})\ny = 1` },
        },
        { signal, onprogress: (p) => /started/.test(p.message ?? '') && started() },
      );
      result.catch(() => {});
      await running;
      // Wrapped: an async function returning the promise itself would wait for the run.
      return { result };
    }

    test('an aborted run_code stops its code: no side effect, and the next call answers at once', async () => {
      const contextId = await newContext(alice);
      const abort = new AbortController();
      const { result } = await startSleeper(alice, contextId, 20, abort.signal);
      abort.abort(new Error('the user pressed stop'));
      await assert.rejects(result);
      // Had the code gone on, this call would wait for the sleep to end and then see y.
      const check = await alice.callTool({ name: 'run_code', arguments: { context_id: contextId, code: 'print(globals().get("y"))' } });
      assert.equal(stdoutOf(check), 'None\n');
      await alice.callTool({ name: 'stop_context', arguments: { context_id: contextId } });
    });

    test("another tenant's cancel of the same request id stops nothing", async () => {
      const contextId = await newContext(alice);
      const { result } = await startSleeper(alice, contextId, 3);
      const requestId = callIds.at(-1)!;
      const forged = await rawPost(
        second.url,
        JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId, reason: 'forged' } }),
        { authorization: `Bearer ${BOB}`, 'mcp-protocol-version': '2025-11-25' },
      );
      assert.equal(forged.status, 202);
      const finished = await result;
      assert.equal(finished.isError, false, JSON.stringify(finished.content));
      const check = await alice.callTool({ name: 'run_code', arguments: { context_id: contextId, code: 'print(y)' } });
      assert.equal(stdoutOf(check), '1\n');
      await alice.callTool({ name: 'stop_context', arguments: { context_id: contextId } });
    });
  });
}

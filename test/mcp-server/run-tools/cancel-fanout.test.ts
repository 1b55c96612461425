/**
 * One request costs bounded work (found by a security review): a 2025-era JSON-RPC batch of
 * `notifications/cancelled` made /mcp pass each cancel on to the sandbox, all at once, each
 * listing the tenant's sessions again (20,000 of them: 13,129 open fds, the other tenant's
 * list_contexts took 9 s). A counting proxy between the MCP server and a real sandbox shows
 * what one request costs: a batch over the limit is refused before any sandbox call, the
 * sessions are listed once per request, and the interrupts go out a few at a time.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/client';
import type { RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { CANCEL_CONCURRENCY } from '../../../src/mcp-server/run-tools/request-cancel.ts';
import { MAX_BATCH_MESSAGES } from '../../../src/mcp-server/http/batch-limit.ts';
import { type CountingProxy, startCountingProxy } from '../../support/counting-proxy.ts';
import { call, connect, type McpProcess, rawPost, startMcp, startTestSandbox, structured } from '../../support/mcp-harness.ts';

const ALICE = 'alice-token-0123456789abcdef';
const BOB = 'bob-token-0123456789abcdefgh';
const CONTEXTS = 3;
let sandbox: RunningSandbox;
let proxy: CountingProxy;
let mcp: McpProcess;
let alice: Client;
let bob: Client;

before(async () => {
  sandbox = await startTestSandbox();
  proxy = await startCountingProxy(sandbox.url);
  mcp = await startMcp({ SANDBOX_URL: proxy.url, MCP_AUTH_TOKEN: `alice:${ALICE},bob:${BOB}` });
  alice = await connect(mcp.url, { authorization: `Bearer ${ALICE}` });
  bob = await connect(mcp.url, { authorization: `Bearer ${BOB}` });
  // Alice holds a few contexts (one sandbox session each), so each cancel has sessions to reach.
  for (let i = 0; i < CONTEXTS; i++) structured(await call(alice, 'create_context'));
  structured(await call(bob, 'create_context'));
});

after(async () => {
  await Promise.all([alice?.close(), bob?.close()]);
  await mcp?.stop();
  await proxy?.close();
  await sandbox?.close();
});

const cancel = (requestId: string | number) => ({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId, reason: 'x' } });
const asAlice = { authorization: `Bearer ${ALICE}` };
const openFds = () => readdirSync(`/proc/${mcp.pid}/fd`).length;

/** Samples the MCP process's open fds while `work` runs; the most seen. */
async function peakFdsDuring<T>(work: Promise<T>): Promise<{ result: T; peakFds: number }> {
  let peakFds = openFds();
  const timer = setInterval(() => {
    try {
      peakFds = Math.max(peakFds, openFds());
    } catch {}
  }, 20);
  try {
    return { result: await work, peakFds };
  } finally {
    clearInterval(timer);
  }
}

describe('a batch of cancels', () => {
  test('20,000 notifications/cancelled in one batch: refused before any sandbox call; the other tenant unaffected', async (t) => {
    const body = JSON.stringify(Array.from({ length: 20_000 }, (_, i) => cancel(`call-${i}`)));
    proxy.reset();
    const started = performance.now();
    const attack = rawPost(mcp.url, body, asAlice).then(async (response) => ({ status: response.status, text: await response.text() }));
    const bobStarted = performance.now();
    const listed = call(bob, 'list_contexts').then((result) => ({ result, ms: performance.now() - bobStarted }));
    const { result: answer, peakFds } = await peakFdsDuring(attack);
    const attackMs = performance.now() - started;
    const bobs = await listed;
    t.diagnostic(`refused in ${attackMs.toFixed(0)} ms; peak fds ${peakFds}; bob's list_contexts ${bobs.ms.toFixed(0)} ms`);
    assert.equal(answer.status, 400, answer.text);
    const error = (JSON.parse(answer.text) as { error: { code: number; message: string } }).error;
    assert.equal(error.code, -32600);
    assert.match(error.message, new RegExp(`batch of more than ${MAX_BATCH_MESSAGES} messages.*at most ${MAX_BATCH_MESSAGES}`));
    assert.equal(proxy.count('/runs/interrupt'), 0, JSON.stringify([...proxy.counts()]));
    // Bob's list_contexts lists the sessions once; nothing more.
    assert.ok(proxy.count('/sessions') <= 1, JSON.stringify([...proxy.counts()]));
    assert.equal(structured<{ contexts: unknown[] }>(bobs.result).contexts.length, 1);
    assert.ok(peakFds < 200, `peak fds ${peakFds}`);
  });

  test(`a batch of ${MAX_BATCH_MESSAGES + 1} cancels, on /mcp and on /invoke: refused before any sandbox call`, async () => {
    const body = JSON.stringify(Array.from({ length: MAX_BATCH_MESSAGES + 1 }, (_, i) => cancel(i)));
    proxy.reset();
    for (const url of [mcp.url, `${mcp.origin}/invoke`]) {
      const response = await rawPost(url, body, asAlice);
      const text = await response.text();
      assert.equal(response.status, 400, text);
      assert.match(text, new RegExp(`batch of more than ${MAX_BATCH_MESSAGES} messages.*at most ${MAX_BATCH_MESSAGES} in one batch`));
    }
    assert.equal(proxy.count('/runs/interrupt') + proxy.count('/sessions'), 0, JSON.stringify([...proxy.counts()]));
  });

  test(`a batch refused from its first ${MAX_BATCH_MESSAGES + 1} messages, before it is parsed: what follows is never read as JSON`, async () => {
    // 7 MiB that JSON.parse would refuse (-32700) after reading all of it: the batch's length is known sooner.
    const head = JSON.stringify(Array.from({ length: MAX_BATCH_MESSAGES + 1 }, (_, i) => cancel(i))).slice(0, -1);
    const body = `${head},${'{"x":'.repeat((7 * 1024 * 1024) / 5)}`;
    proxy.reset();
    for (const url of [mcp.url, `${mcp.origin}/invoke`]) {
      const response = await rawPost(url, body, asAlice);
      const text = await response.text();
      assert.equal(response.status, 400, text);
      assert.equal((JSON.parse(text) as { error: { code: number } }).error.code, -32600, text);
      assert.match(text, new RegExp(`batch of more than ${MAX_BATCH_MESSAGES} messages`));
    }
    assert.equal(proxy.count('/runs/interrupt') + proxy.count('/sessions'), 0, JSON.stringify([...proxy.counts()]));
  });

  test(`${MAX_BATCH_MESSAGES / 2} distinct cancels, each twice, in a batch: the sessions listed once, the interrupts ${CANCEL_CONCURRENCY} at a time`, async () => {
    const ids = Array.from({ length: MAX_BATCH_MESSAGES / 2 }, (_, i) => `run-${i}`);
    const body = JSON.stringify([...ids, ...ids].map(cancel));
    proxy.reset();
    const response = await rawPost(mcp.url, body, asAlice);
    assert.equal(response.status, 202, await response.text());
    assert.equal(proxy.count('/sessions'), 1, JSON.stringify([...proxy.counts()]));
    assert.equal(proxy.count('/runs/interrupt'), ids.length * CONTEXTS, JSON.stringify([...proxy.counts()]));
    assert.ok(proxy.peakInFlight() <= CANCEL_CONCURRENCY, `peak in flight ${proxy.peakInFlight()}`);
  });

  test('one cancel alone still reaches every session of its tenant', async () => {
    proxy.reset();
    const response = await rawPost(mcp.url, JSON.stringify(cancel('lone')), asAlice);
    assert.equal(response.status, 202, await response.text());
    assert.equal(proxy.count('/sessions'), 1);
    assert.equal(proxy.count('/runs/interrupt'), CONTEXTS);
  });
});

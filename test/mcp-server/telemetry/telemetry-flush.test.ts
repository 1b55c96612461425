/**
 * Telemetry that never costs a call more than its bound: on FC (handlers/fc.ts) each
 * answer's spans are exported before the answer ends, since FC may freeze the instance right
 * after; a collector that hangs, refuses or is gone changes no answer and delays one at most by
 * the flush bound; and with the collector hanging, spans are dropped past the queue's bound
 * rather than kept.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/client';
import { DEFAULT_FLUSH_TIMEOUT_MS, telemetrySettingsFrom } from '../../../src/shared/telemetry/settings.ts';
import { startTelemetry } from '../../../src/shared/telemetry/sdk.ts';
import { buildBundle } from '../../support/fc-bundle.ts';
import { call, connect, mcpOnSandbox, ROOT, SECRET, spawnHandler, startTestSandbox, structured } from '../../support/mcp-harness.ts';
import { type OtlpReceiver, startOtlpReceiver } from '../../support/otlp-receiver.ts';
import { commandLine, descendants, freePort, stopChild } from '../../support/processes.ts';
import { type ChildProcess, spawn } from 'node:child_process';
import type { RunningSandbox } from '../../../src/sandbox-service/index.ts';

const TOKEN = 'flush-test-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}` };

/** handlers/fc.ts in direct session mode on `sandboxUrl`, on a free port. */
async function startFc(env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawnHandler('fc.ts', { FC_CUSTOM_LISTEN_PORT: String(port), MCP_AUTH_TOKEN: TOKEN, CONTEXT_SECRET: SECRET, ...env });
  let err = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('"msg":"listening"')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`fc.ts exited ${code}: ${err}`)));
  });
  return { url: `http://127.0.0.1:${port}/mcp`, child };
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: performance.now() - started };
}

describe('on FC, each answer exports its spans first, within a bound', () => {
  let sandbox: RunningSandbox;
  let receiver: OtlpReceiver;
  let fc: { url: string; child: ChildProcess };
  let client: Client;

  before(async () => {
    [sandbox, receiver] = await Promise.all([startTestSandbox(), startOtlpReceiver()]);
    fc = await startFc({
      SANDBOX_URL: sandbox.url,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      // Left to the batch processor, nothing would go out for a minute.
      OTEL_BSP_SCHEDULE_DELAY: '60000',
      OTEL_EXPORTER_OTLP_TIMEOUT: '30000',
    });
    client = await connect(fc.url, AUTH);
  });
  after(async () => {
    await client?.close();
    if (fc) await stopChild(fc.child);
    await Promise.all([receiver?.close(), sandbox?.close()]);
  });

  test('the span of a tools/call has reached the collector when its answer has reached the client', async () => {
    const result = await call(client, 'run_code', { code: 'print(6 * 7)' });
    assert.ok(!result.isError, JSON.stringify(result));
    assert.ok(
      receiver.spans.some((s) => s.name === 'tools/call run_code'),
      `exported before the answer ended; got: ${receiver.spans.map((s) => s.name).join(', ')}`,
    );
    assert.ok(receiver.spans.some((s) => s.name === 'POST /execute'));
  });

  for (const mode of ['hang', 'refuse'] as const) {
    test(`a collector that ${mode}s changes no answer and delays one by at most the flush bound`, async () => {
      receiver.mode = mode;
      try {
        const run = await call(client, 'run_code', { code: 'print(40 + 2)' });
        assert.ok(!run.isError, JSON.stringify(run));
        assert.match(JSON.stringify(run.content), /42/);
        // Timed on a call that is quick itself (a one-off run boots a kernel, seconds on a loaded machine).
        for (let i = 0; i < 3; i++) {
          const { value, ms } = await timed(() => call(client, 'list_contexts'));
          assert.ok(!value.isError, JSON.stringify(value));
          assert.ok(ms < DEFAULT_FLUSH_TIMEOUT_MS + 1500, `answered in ${Math.round(ms)} ms`);
        }
      } finally {
        receiver.mode = 'ok';
      }
    });
  }
});

describe('a collector that is gone', () => {
  const servers = mcpOnSandbox();

  test('changes no answer of npm start, and spans past the queue bound are dropped, not kept', async () => {
    const receiver = await startOtlpReceiver();
    const mcp = await servers.start({
      MCP_AUTH_TOKEN: TOKEN,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '20',
      OTEL_BSP_MAX_QUEUE_SIZE: '50',
      OTEL_EXPORTER_OTLP_TIMEOUT: '300',
    });
    const client = await connect(mcp.url, AUTH);
    try {
      // Hanging: every export times out, so spans pile up against the queue's bound.
      receiver.mode = 'hang';
      const pid = descendants(process.pid).find((p) => commandLine(p).includes('handlers/local.ts'));
      const rss = () => (pid ? Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024 : 0);
      const calls = 600;
      let answered = 0;
      const started = performance.now();
      let rssAfterFirstHalf = 0;
      for (let i = 0; i < calls; i += 20) {
        const batch = await Promise.all(Array.from({ length: 20 }, () => call(client, 'list_contexts')));
        for (const result of batch) {
          assert.ok(!result.isError, JSON.stringify(result));
          assert.ok(Array.isArray(structured<{ contexts: unknown[] }>(result).contexts));
          answered++;
        }
        if (i + 20 === calls / 2) rssAfterFirstHalf = rss();
      }
      assert.equal(answered, calls);
      const elapsed = performance.now() - started;
      if (pid) assert.ok(rss() - rssAfterFirstHalf < 40, `RSS grew from ${rssAfterFirstHalf} to ${rss()} MB over ${calls / 2} calls`);

      // Back: what is exported now is at most the queue's bound (and a batch that was in flight), not the 600 spans.
      const before = receiver.spans.length;
      receiver.mode = 'ok';
      await call(client, 'list_contexts');
      await receiver.waitForSpan((s) => s.attributes['gen_ai.tool.name'] === 'list_contexts');
      await new Promise((r) => setTimeout(r, 500));
      const exported = receiver.spans.filter((s) => s.kind === 2).length - before;
      assert.ok(
        exported <= 50 + 50 + 1,
        `${exported} server spans exported after the collector came back (${calls} were made in ${Math.round(elapsed)} ms)`,
      );

      // Gone altogether: refused connections change nothing either.
      await receiver.close();
      const { value, ms } = await timed(() => call(client, 'run_code', { code: 'print("still here")' }));
      assert.match(JSON.stringify(value.content), /still here/);
      assert.ok(ms < 5000, `answered in ${Math.round(ms)} ms`);
    } finally {
      await client.close();
      await receiver.close().catch(() => {});
    }
  });
});

describe('the span queue is bounded', () => {
  test('with the collector hanging, spans past OTEL_BSP_MAX_QUEUE_SIZE are dropped, and a flush waits at most its bound', async () => {
    const receiver = await startOtlpReceiver();
    const settings = telemetrySettingsFrom(
      {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.endpoint}/v1/traces`,
        OTEL_BSP_MAX_QUEUE_SIZE: '50',
        OTEL_BSP_SCHEDULE_DELAY: '10',
        OTEL_BSP_EXPORT_TIMEOUT: '500',
      },
      'bounded-test',
    )!;
    const telemetry = await startTelemetry(settings);
    try {
      receiver.mode = 'hang';
      for (let i = 0; i < 5000; i++) telemetry.tracer.startSpan(`span ${i}`).end();
      // The first export hangs until its timeout; meanwhile the queue holds what it may.
      await new Promise((r) => setTimeout(r, 100));
      receiver.mode = 'ok';
      // The hung export ends at its timeout, then the queue goes out: under load that can take a while.
      for (const deadline = Date.now() + 15_000; receiver.spans.length === 0 && Date.now() < deadline; ) {
        await new Promise((r) => setTimeout(r, 250));
        await telemetry.flush();
      }
      // What was queued while the collector hung: at most the queue's bound, whatever was made.
      assert.ok(receiver.spans.length > 0, 'the queue is exported once the collector answers');
      assert.ok(receiver.spans.length <= 50, `${receiver.spans.length} spans exported of the 5000 made while it hung`);

      receiver.mode = 'hang';
      telemetry.tracer.startSpan('one more').end();
      const { ms } = await timed(() => telemetry.flush());
      assert.ok(ms < settings.flushTimeoutMs + 500, `flush took ${Math.round(ms)} ms`);
      receiver.mode = 'ok';
    } finally {
      await telemetry.shutdown();
      await receiver.close();
    }
  });
});

describe('the FC bundle (dist/fc.js) exports as the sources do', () => {
  test('its split chunks load the exporters (CommonJS packages) and the answer ends after its spans went out', async () => {
    await buildBundle();
    const [sandbox, receiver] = await Promise.all([startTestSandbox(), startOtlpReceiver()]);
    const port = await freePort();
    const child = spawn(process.execPath, ['dist/fc.js'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        FC_CUSTOM_LISTEN_PORT: String(port),
        SANDBOX_URL: sandbox.url,
        MCP_AUTH_TOKEN: TOKEN,
        CONTEXT_SECRET: SECRET,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        // Both exporter packages of each kind: spans in JSON, metrics in protobuf.
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '60000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let err = '';
      await new Promise<void>((resolve, reject) => {
        child.stderr!.on('data', (d: Buffer) => {
          err += d.toString();
          if (err.includes('"msg":"listening"')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`dist/fc.js exited ${code}: ${err}`)));
      });
      const client = await connect(`http://127.0.0.1:${port}/mcp`, AUTH);
      const result = await call(client, 'run_code', { code: 'print(6 * 7)' });
      assert.ok(!result.isError, JSON.stringify(result));
      assert.ok(receiver.spans.some((s) => s.name === 'tools/call run_code'));
      assert.ok(receiver.contentTypes.every((t) => t.includes('json')));
      await client.close();
    } finally {
      await stopChild(child);
      await Promise.all([receiver.close(), sandbox.close()]);
    }
  });
});

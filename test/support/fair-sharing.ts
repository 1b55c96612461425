/**
 * Fair sharing under attack (a security review's attacks): `npm start`'s stack (handlers/local.ts, its own
 * sandbox service) with two named tenants; tenant alice runs the review's attacks, tenant bob times a
 * trivial run_code. Shared by test/e2e/fair-sharing.test.ts (all attacks at once, asserted)
 * and bench/fair-sharing.bench.ts (each attack alone and all at once, a table of ratios).
 * Every attack is bounded: it repeats a fixed burst until told to stop, and what it leaves
 * running in the sandbox ends on its own (CPU loops under `timeout`) or with the stack.
 * Loopback only. Not a test file itself.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect as connectTcp, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@modelcontextprotocol/client';
import { call, connect, type McpProcess, rawPost, rpcBody, startMcp, textOf } from './mcp-harness.ts';

export const ALICE = 'alice-fair-token-0123456789';
export const BOB = 'bob-fair-token-0123456789ab';

export interface FairStack {
  mcp: McpProcess;
  /** The loopback file server write_file's url attacks download from (20 MiB a file). */
  filesOrigin: string;
  bob: Client;
  /** Bob's context, where his trivial run_code runs. */
  bobContext: string;
  close(): Promise<void>;
}

const FILE_BYTES = 20 * 1024 * 1024;

/** The local main with its own sandbox service (no SANDBOX_URL), tenants alice and bob, and a file server on loopback. */
export async function startFairStack(env: Record<string, string> = {}): Promise<FairStack> {
  const block = Buffer.alloc(1024 * 1024, 'x');
  const files: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-length': String(FILE_BYTES) });
    let sent = 0;
    const pump = () => {
      while (sent < FILE_BYTES) {
        sent += block.length;
        if (!res.write(block)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  files.listen(0, '127.0.0.1');
  await once(files, 'listening');
  const mcp = await startMcp({
    MCP_AUTH_TOKEN: `alice:${ALICE},bob:${BOB}`,
    SANDBOX_PORT: '0',
    MCP_FETCH_ALLOW_HOSTS: '127.0.0.1',
    LOG_LEVEL: 'warn',
    ...env,
  });
  const bob = await connect(mcp.url, { authorization: `Bearer ${BOB}` });
  await bob.listTools();
  const created = await call(bob, 'create_context');
  const bobContext = (created.structuredContent as { context_id: string }).context_id;
  return {
    mcp,
    filesOrigin: `http://127.0.0.1:${(files.address() as AddressInfo).port}`,
    bob,
    bobContext,
    async close() {
      await bob.close().catch(() => {});
      await mcp.stop();
      files.closeAllConnections();
      files.close();
    },
  };
}

/** One trivial run_code of bob's: its time in ms, or the error it ended with. */
export async function bobRuns(stack: FairStack): Promise<{ ms: number; error?: string }> {
  const started = performance.now();
  try {
    const result = await call(stack.bob, 'run_code', { context_id: stack.bobContext, code: '1 + 1' });
    const ms = performance.now() - started;
    if (result.isError || !/2/.test(textOf(result))) return { ms, error: textOf(result).slice(0, 300) };
    return { ms };
  } catch (error) {
    return { ms: performance.now() - started, error: String(error).slice(0, 300) };
  }
}

/** Bob's trivial run_code, `count` times one after another (fewer if `maxMs` runs out first): the times and the errors. */
export async function timeBob(
  stack: FairStack,
  count: number,
  maxMs = Number.POSITIVE_INFINITY,
): Promise<{ samples: number[]; errors: string[] }> {
  const samples: number[] = [];
  const errors: string[] = [];
  const deadline = performance.now() + maxMs;
  for (let i = 0; i < count && performance.now() < deadline; i++) {
    const { ms, error } = await bobRuns(stack);
    samples.push(ms);
    if (error) errors.push(error);
  }
  return { samples, errors };
}

// ---------- alice's side: raw JSON-RPC (2025, no initialize), as any HTTP client can send ----------

/** A tools/call of alice's; the result, or why there was none (an HTTP refusal such as 429 included). */
async function aliceCalls(
  stack: FairStack,
  name: string,
  args: Record<string, unknown>,
  signal?: AbortSignal,
): Promise<{ structured?: Record<string, unknown>; text: string; status: number }> {
  try {
    const response = await fetch(stack.mcp.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${ALICE}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } }),
      signal,
    });
    if (response.status !== 200) return { text: await response.text(), status: response.status };
    const body = (await rpcBody(response)) as { result?: { structuredContent?: Record<string, unknown>; content?: { text?: string }[] } };
    return { structured: body.result?.structuredContent, text: body.result?.content?.[0]?.text ?? '', status: 200 };
  } catch (error) {
    return { text: String(error), status: 0 };
  }
}

async function aliceContext(stack: FairStack, language = 'python'): Promise<string | undefined> {
  const created = await aliceCalls(stack, 'create_context', { language });
  return created.structured?.context_id as string | undefined;
}

/** What an attack did, for the report. */
export interface AttackReport {
  bursts: number;
  notes: Set<string>;
}

export interface Attack {
  name: string;
  /** The security review's finding it reproduces. */
  finding: string;
  /** The language of the context it needs, made before any attack starts (the others' floods would refuse it). */
  context?: 'python' | 'bash';
  /** What it starts in its context before any attack starts (the others' floods would refuse it); what run() gets as `prepared`. */
  prepare?(stack: FairStack, context: string): Promise<string>;
  /** Repeats its burst until `stop` aborts; resolves once it has cleaned up. */
  run(stack: FairStack, stop: AbortSignal, report: AttackReport, context: string, prepared: string): Promise<void>;
}

const note = (report: AttackReport, text: string) => report.notes.add(text.replace(/\s+/g, ' ').slice(0, 160));

async function repeat(stop: AbortSignal, report: AttackReport, burst: () => Promise<void>): Promise<void> {
  while (!stop.aborted) {
    await burst();
    report.bursts++;
    if (!stop.aborted) await sleep(50);
  }
}

export const ATTACKS: Attack[] = [
  {
    name: 'iopub flood (large messages on the kernel own iopub socket)',
    finding: '1',
    context: 'python',
    async run(stack, stop, report, context) {
      const code = [
        'k = get_ipython().kernel',
        'buf = b"x" * (50 * 1024 * 1024)',
        'for i in range(10):',
        '    k.iopub_thread.socket.send_multipart([b"kernel.x.stream", b"<IDS|MSG>", b"bad-signature", b"{}", b"{}", b"{}", b"{}", buf], copy=False)',
        'print("sent")',
      ].join('\n');
      await repeat(stop, report, async () => {
        const answer = await aliceCalls(stack, 'run_code', { context_id: context, code, wait_seconds: 5 });
        note(report, `${answer.status} ${answer.text}`);
      });
    },
  },
  {
    name: 'queued runs (4 MB of code each behind a sleeping run)',
    finding: '2',
    context: 'python',
    async prepare(stack, context) {
      const answer = await aliceCalls(stack, 'run_code', { context_id: context, code: 'import time\ntime.sleep(600)', wait_seconds: 0.2 });
      return String(answer.structured?.status ?? answer.text);
    },
    async run(stack, stop, report, context) {
      const big = `x = 1\n#${'y'.repeat(4 * 1024 * 1024)}\n`;
      await repeat(stop, report, async () => {
        const answers = await Promise.all(
          Array.from({ length: 10 }, () => aliceCalls(stack, 'run_code', { context_id: context, code: big, wait_seconds: 0.2 })),
        );
        for (const answer of answers) note(report, `${answer.status} ${String(answer.structured?.status ?? answer.text)}`);
      });
      await aliceCalls(stack, 'stop_context', { context_id: context });
    },
  },
  {
    name: 'a batch of 20,000 notifications/cancelled',
    finding: '3',
    async run(stack, stop, report) {
      const body = JSON.stringify(
        Array.from({ length: 20_000 }, (_, i) => ({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: i } })),
      );
      await repeat(stop, report, async () => {
        const response = await rawPost(stack.mcp.url, body, { authorization: `Bearer ${ALICE}` }).catch((error: unknown) => String(error));
        note(report, typeof response === 'string' ? response : `${response.status}`);
        if (typeof response !== 'string') await response.text();
      });
    },
  },
  {
    name: '500,000 empty stream messages',
    finding: '5',
    context: 'python',
    async run(stack, stop, report, context) {
      const code = [
        'k = get_ipython().kernel',
        'for i in range(500000):',
        '    k.session.send(k.iopub_socket, "stream", {"name": "stdout", "text": ""}, parent=k.get_parent())',
        'print("sent")',
      ].join('\n');
      await repeat(stop, report, async () => {
        const answer = await aliceCalls(stack, 'run_code', { context_id: context, code, wait_seconds: 5 });
        note(report, `${answer.status} ${String(answer.structured?.status ?? answer.text)}`);
      });
    },
  },
  {
    name: 'CPU loops left running in a bash context',
    finding: '6',
    context: 'bash',
    async prepare(stack, context) {
      // Bounded: each loop ends on its own after 60 s, whatever becomes of the context.
      const code = 'for i in 1 2 3 4; do timeout 60 bash -c "while :; do :; done" & done; echo started';
      const answer = await aliceCalls(stack, 'run_code', { context_id: context, code, wait_seconds: 5 });
      return `${answer.status} ${answer.text}`;
    },
    async run(stack, stop, report, context, prepared) {
      note(report, prepared);
      report.bursts++;
      await once(stop, 'abort');
      await aliceCalls(stack, 'stop_context', { context_id: context });
    },
  },
  {
    name: 'write_file url, 20 concurrent 20 MiB downloads',
    finding: '7',
    context: 'python',
    async run(stack, stop, report, context) {
      await repeat(stop, report, async () => {
        const answers = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            aliceCalls(stack, 'write_file', { context_id: context, path: `big-${i}.bin`, url: `${stack.filesOrigin}/file` }),
          ),
        );
        for (const answer of answers) note(report, `${answer.status} ${answer.structured?.size ?? answer.text}`);
      });
      await aliceCalls(stack, 'stop_context', { context_id: context });
    },
  },
  {
    name: 'wait_run on 4 MiB of output',
    finding: '8',
    context: 'python',
    async prepare(stack, context) {
      const started = await aliceCalls(stack, 'run_code', {
        context_id: context,
        code: 'import sys, time\nsys.stdout.write("z" * (4 * 1024 * 1024))\nsys.stdout.flush()\ntime.sleep(600)',
        wait_seconds: 1,
      });
      return (started.structured?.run_id as string | undefined) ?? `no run: ${started.status} ${started.text}`;
    },
    async run(stack, stop, report, context, runId) {
      if (!runId.startsWith('run_')) return void note(report, runId);
      await repeat(stop, report, async () => {
        const answers = await Promise.all(
          Array.from({ length: 8 }, () => aliceCalls(stack, 'wait_run', { run_id: runId, wait_seconds: 0 })),
        );
        for (const answer of answers) note(report, `${answer.status} ${String(answer.structured?.status ?? answer.text)}`);
      });
      await aliceCalls(stack, 'stop_context', { context_id: context });
    },
  },
  {
    name: 'slow bodies, idle connections and a flood of requests',
    finding: '9',
    async run(stack, stop, report) {
      const { port, host } = new URL(stack.mcp.url);
      const sockets = new Set<Socket>();
      const open = (trickle: boolean) => {
        const socket = connectTcp(Number(port), '127.0.0.1');
        socket.on('error', () => {});
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
        if (trickle) {
          socket.write(
            `POST /mcp HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${ALICE}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n`,
          );
          const timer = setInterval(() => socket.writable && socket.write(' '), 500);
          socket.once('close', () => clearInterval(timer));
        }
      };
      await repeat(stop, report, async () => {
        while (sockets.size < 600) open(sockets.size % 3 === 0);
        const answers = await Promise.all(Array.from({ length: 64 }, () => aliceCalls(stack, 'list_contexts', {})));
        for (const answer of answers) note(report, `${answer.status}`);
        await sleep(200);
      });
      for (const socket of sockets) socket.destroy();
    },
  },
];

/** Runs `attacks` until `work` has finished, then stops them and waits for their clean-up (bounded). */
export async function underAttack<T>(
  stack: FairStack,
  attacks: readonly Attack[],
  work: () => Promise<T>,
  { warmUpMs = 3000, cleanUpMs = 30_000 } = {},
): Promise<{ result: T; reports: Map<string, AttackReport> }> {
  const stop = new AbortController();
  const reports = new Map(attacks.map((attack) => [attack.name, { bursts: 0, notes: new Set<string>() } as AttackReport]));
  const contexts: string[] = [];
  const prepared: string[] = [];
  for (const attack of attacks) {
    const context = attack.context ? await aliceContext(stack, attack.context) : '';
    if (context === undefined) throw new Error(`alice could not create a ${attack.context} context for "${attack.name}"`);
    contexts.push(context);
    prepared.push((await attack.prepare?.(stack, context)) ?? '');
  }
  const running = attacks.map((attack, i) =>
    attack
      .run(stack, stop.signal, reports.get(attack.name)!, contexts[i]!, prepared[i]!)
      .catch((error: unknown) => note(reports.get(attack.name)!, `threw ${String(error)}`)),
  );
  try {
    await sleep(warmUpMs);
    return { result: await work(), reports };
  } finally {
    stop.abort();
    await Promise.race([Promise.all(running), sleep(cleanUpMs)]);
  }
}

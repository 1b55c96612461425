/**
 * Alice's side of the fair-sharing check: a security review's attacks, each a burst repeated
 * until told to stop, as raw JSON-RPC (2025, no initialize) any HTTP client can send, and the
 * loopback file server write_file's url attack downloads from. Run in a process of their own
 * (fair-attacker.ts, started by fair-sharing.ts's underAttack), as a real attacker is: alice's
 * client work (20 MiB downloads served, 4 MB bodies built, 600 sockets) must not stall bob's
 * client, which shares nothing with her but the server. Every attack is bounded: what it leaves
 * running in the sandbox ends on its own (CPU loops under `timeout`) or with the stack. Loopback
 * only. Not a test file itself.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect as connectTcp, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { rawPost, rpcBody } from './mcp-harness.ts';

export const ALICE = 'alice-fair-token-0123456789';

/** Where alice's attacks go: the MCP endpoint, and the file server her downloads come from. */
export interface AttackTarget {
  url: string;
  filesOrigin: string;
}

const FILE_BYTES = 20 * 1024 * 1024;

/** The loopback file server write_file's url attack downloads from (20 MiB a file). */
export async function startFileServer(): Promise<{ origin: string; close(): void }> {
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
  return {
    origin: `http://127.0.0.1:${(files.address() as AddressInfo).port}`,
    close() {
      files.closeAllConnections();
      files.close();
    },
  };
}

/** A tools/call of alice's; the result, or why there was none (an HTTP refusal such as 429 included). */
async function aliceCalls(
  target: AttackTarget,
  name: string,
  args: Record<string, unknown>,
  signal?: AbortSignal,
): Promise<{ structured?: Record<string, unknown>; text: string; status: number }> {
  try {
    const response = await fetch(target.url, {
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

export async function aliceContext(target: AttackTarget, language = 'python'): Promise<string> {
  const created = await aliceCalls(target, 'create_context', { language });
  const id = created.structured?.context_id;
  if (typeof id !== 'string')
    throw new Error(`alice could not create a ${language} context: ${created.status} ${created.text.slice(0, 300)}`);
  return id;
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
  prepare?(target: AttackTarget, context: string): Promise<string>;
  /** Repeats its burst until `stop` aborts; resolves once it has cleaned up. */
  run(target: AttackTarget, stop: AbortSignal, report: AttackReport, context: string, prepared: string): Promise<void>;
}

const note = (report: AttackReport, text: string) => report.notes.add(text.replace(/\s+/g, ' ').slice(0, 160));

async function repeat(stop: AbortSignal, report: AttackReport, burst: () => Promise<void>): Promise<void> {
  while (!stop.aborted) {
    await burst();
    report.bursts++;
    if (!stop.aborted) await sleep(50);
  }
}

/** Runs `code` in alice's context, again and again until told to stop (an attack of code alone). */
async function runRepeatedly(target: AttackTarget, stop: AbortSignal, report: AttackReport, context: string, code: string): Promise<void> {
  await repeat(stop, report, async () => {
    const answer = await aliceCalls(target, 'run_code', { context_id: context, code, wait_seconds: 5 });
    note(report, `${answer.status} ${String(answer.structured?.status ?? answer.text)}`);
  });
}

export const ATTACKS: Attack[] = [
  {
    name: 'iopub flood (large messages on the kernel own iopub socket)',
    finding: '1',
    context: 'python',
    async run(target, stop, report, context) {
      const code = [
        'k = get_ipython().kernel',
        'buf = b"x" * (50 * 1024 * 1024)',
        'for i in range(10):',
        '    k.iopub_thread.socket.send_multipart([b"kernel.x.stream", b"<IDS|MSG>", b"bad-signature", b"{}", b"{}", b"{}", b"{}", buf], copy=False)',
        'print("sent")',
      ].join('\n');
      await runRepeatedly(target, stop, report, context, code);
    },
  },
  {
    name: 'queued runs (4 MB of code each behind a sleeping run)',
    finding: '2',
    context: 'python',
    async prepare(target, context) {
      const answer = await aliceCalls(target, 'run_code', { context_id: context, code: 'import time\ntime.sleep(600)', wait_seconds: 0.2 });
      return String(answer.structured?.status ?? answer.text);
    },
    async run(target, stop, report, context) {
      const big = `x = 1\n#${'y'.repeat(4 * 1024 * 1024)}\n`;
      await repeat(stop, report, async () => {
        const answers = await Promise.all(
          Array.from({ length: 10 }, () => aliceCalls(target, 'run_code', { context_id: context, code: big, wait_seconds: 0.2 })),
        );
        for (const answer of answers) note(report, `${answer.status} ${String(answer.structured?.status ?? answer.text)}`);
      });
      await aliceCalls(target, 'stop_context', { context_id: context });
    },
  },
  {
    name: 'a batch of 20,000 notifications/cancelled',
    finding: '3',
    async run(target, stop, report) {
      const body = JSON.stringify(
        Array.from({ length: 20_000 }, (_, i) => ({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: i } })),
      );
      await repeat(stop, report, async () => {
        const response = await rawPost(target.url, body, { authorization: `Bearer ${ALICE}` }).catch((error: unknown) => String(error));
        note(report, typeof response === 'string' ? response : `${response.status}`);
        if (typeof response !== 'string') await response.text();
      });
    },
  },
  {
    name: '500,000 empty stream messages',
    finding: '5',
    context: 'python',
    async run(target, stop, report, context) {
      const code = [
        'k = get_ipython().kernel',
        'for i in range(500000):',
        '    k.session.send(k.iopub_socket, "stream", {"name": "stdout", "text": ""}, parent=k.get_parent())',
        'print("sent")',
      ].join('\n');
      await runRepeatedly(target, stop, report, context, code);
    },
  },
  {
    name: 'CPU loops left running in a bash context',
    finding: '6',
    context: 'bash',
    async prepare(target, context) {
      // Bounded: each loop ends on its own after 60 s, whatever becomes of the context.
      const code = 'for i in 1 2 3 4; do timeout 60 bash -c "while :; do :; done" & done; echo started';
      const answer = await aliceCalls(target, 'run_code', { context_id: context, code, wait_seconds: 5 });
      return `${answer.status} ${answer.text}`;
    },
    async run(target, stop, report, context, prepared) {
      note(report, prepared);
      report.bursts++;
      await once(stop, 'abort');
      await aliceCalls(target, 'stop_context', { context_id: context });
    },
  },
  {
    name: 'write_file url, 20 concurrent 20 MiB downloads',
    finding: '7',
    context: 'python',
    async run(target, stop, report, context) {
      await repeat(stop, report, async () => {
        const answers = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            aliceCalls(target, 'write_file', { context_id: context, path: `big-${i}.bin`, url: `${target.filesOrigin}/file` }),
          ),
        );
        for (const answer of answers) note(report, `${answer.status} ${answer.structured?.size ?? answer.text}`);
      });
      await aliceCalls(target, 'stop_context', { context_id: context });
    },
  },
  {
    // The review's 4 MiB is the output cap itself: with each event's cost counted a run that
    // prints it is stopped at the cap, and ends before wait_run can be asked (0 bursts until 2026-12-07).
    name: 'wait_run on 3.5 MiB of output',
    finding: '8',
    context: 'python',
    async prepare(target, context) {
      const started = await aliceCalls(target, 'run_code', {
        context_id: context,
        code: 'import sys, time\nsys.stdout.write("z" * (7 * 512 * 1024))\nsys.stdout.flush()\ntime.sleep(600)',
        wait_seconds: 1,
      });
      return (started.structured?.run_id as string | undefined) ?? `no run: ${started.status} ${started.text}`;
    },
    async run(target, stop, report, context, runId) {
      if (!runId.startsWith('run_')) return void note(report, runId);
      await repeat(stop, report, async () => {
        const answers = await Promise.all(
          Array.from({ length: 8 }, () => aliceCalls(target, 'wait_run', { run_id: runId, wait_seconds: 0 })),
        );
        for (const answer of answers) note(report, `${answer.status} ${String(answer.structured?.status ?? answer.text)}`);
      });
      await aliceCalls(target, 'stop_context', { context_id: context });
    },
  },
  {
    name: 'slow bodies, idle connections and a flood of requests',
    finding: '9',
    async run(target, stop, report) {
      const { port, host } = new URL(target.url);
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
        const answers = await Promise.all(Array.from({ length: 64 }, () => aliceCalls(target, 'list_contexts', {})));
        for (const answer of answers) note(report, `${answer.status}`);
        await sleep(200);
      });
      for (const socket of sockets) socket.destroy();
    },
  },
];

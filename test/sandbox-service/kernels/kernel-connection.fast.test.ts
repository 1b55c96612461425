/**
 * KernelConnection.open against a stand-in kernel (ZeroMQ sockets speaking Jupyter's signed
 * messages, no process): how it copes with a kernel that loses a kernel_info_request, as Deno's
 * does at about one start in three, and with one slower to answer than its first wait.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as zmq from 'zeromq';
import { KernelConnection } from '../../../src/sandbox-service/kernels/kernel-connection.ts';
import type { KernelEndpoints } from '../../../src/sandbox-service/kernels/kernel-launch.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'kernel-connection-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const KEY = 'stand-in-kernel-key';
const DELIMITER = '<IDS|MSG>';

/** Answers kernel_info_request on shell (busy, reply, idle on iopub), after dropping the first `drop` requests. */
async function standInKernel({ drop, delayMs }: { drop: number; delayMs: number }) {
  const shell = new zmq.Router({ linger: 0 });
  const control = new zmq.Router({ linger: 0 });
  const iopub = new zmq.Publisher({ linger: 0 });
  const base = path.join(dir, randomUUID().slice(0, 8));
  const endpoints = Object.fromEntries(
    ['shell', 'control', 'iopub', 'stdin', 'hb'].map((c) => [c, `ipc://${base}-${c}`]),
  ) as KernelEndpoints;
  await Promise.all([shell.bind(endpoints.shell), control.bind(endpoints.control), iopub.bind(endpoints.iopub)]);
  const state = { requests: 0 };
  const signed = (msgType: string, parent: unknown, content: unknown) => {
    const header = {
      msg_id: randomUUID(),
      msg_type: msgType,
      session: 'stand-in',
      username: 'kernel',
      date: new Date().toISOString(),
      version: '5.3',
    };
    const parts = [JSON.stringify(header), JSON.stringify(parent), '{}', JSON.stringify(content)];
    const hmac = createHmac('sha256', KEY);
    for (const part of parts) hmac.update(part);
    return [DELIMITER, hmac.digest('hex'), ...parts];
  };
  void (async () => {
    try {
      for await (const frames of shell) {
        state.requests++;
        if (state.requests <= drop) continue;
        const at = frames.findIndex((frame) => frame.toString() === DELIMITER);
        const ids = frames.slice(0, at);
        const parent = JSON.parse(frames[at + 2]!.toString());
        setTimeout(async () => {
          await iopub.send(signed('status', parent, { execution_state: 'busy' }));
          await shell.send([...ids, ...signed('kernel_info_reply', parent, { status: 'ok', protocol_version: '5.3' })]);
          await iopub.send(signed('status', parent, { execution_state: 'idle' }));
        }, delayMs);
      }
    } catch {
      // closed
    }
  })();
  return {
    endpoints,
    state,
    close() {
      for (const socket of [shell, control, iopub]) socket.close();
    },
  };
}

test('a kernel that loses the first kernel_info_request is asked again, and the connection opens', async () => {
  const kernel = await standInKernel({ drop: 1, delayMs: 0 });
  try {
    const connection = await KernelConnection.open(kernel.endpoints, KEY, { maxMessageBytes: 1024 * 1024 }, 10_000);
    connection.close();
    assert.ok(kernel.state.requests >= 2, `${kernel.state.requests} requests`);
  } finally {
    kernel.close();
  }
});

test('a kernel slower to answer than the first wait still opens: later requests wait longer', async () => {
  const kernel = await standInKernel({ drop: 0, delayMs: 400 });
  try {
    const connection = await KernelConnection.open(kernel.endpoints, KEY, { maxMessageBytes: 1024 * 1024 }, 10_000);
    connection.close();
  } finally {
    kernel.close();
  }
});

test('a kernel that never answers: open fails at its deadline, naming kernel_info_request', async () => {
  const kernel = await standInKernel({ drop: Number.POSITIVE_INFINITY, delayMs: 0 });
  try {
    await assert.rejects(
      KernelConnection.open(kernel.endpoints, KEY, { maxMessageBytes: 1024 * 1024 }, 1_500),
      /did not answer kernel_info_request in time/,
    );
    assert.ok(kernel.state.requests >= 2, `asked ${kernel.state.requests} times`);
  } finally {
    kernel.close();
  }
});

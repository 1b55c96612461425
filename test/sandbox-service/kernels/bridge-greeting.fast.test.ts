/**
 * How a Deno kernel's start tells that Deno listens behind socat's bridge on a channel: a
 * connection through it hears ZeroMQ's greeting. socat accepts before Deno has bound the port and
 * then drops the connection; that must read as "not yet", never as ready.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as zmq from 'zeromq';
import { greets } from '../../../src/sandbox-service/kernels/deno-kernel.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'bridge-greeting-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a bridge that accepts and drops the connection (nothing bound behind it yet) is not ready', async () => {
  const socketPath = path.join(dir, 'dropping');
  const bridge = createServer((connection) => connection.destroy());
  await new Promise<void>((resolve) => bridge.listen(socketPath, resolve));
  try {
    assert.equal(await greets(socketPath), false);
  } finally {
    bridge.close();
  }
});

test('a bridge that accepts and says nothing is not ready either, once the wait is over', async () => {
  const socketPath = path.join(dir, 'silent');
  const held = new Set<import('node:net').Socket>();
  const bridge = createServer((connection) => held.add(connection));
  await new Promise<void>((resolve) => bridge.listen(socketPath, resolve));
  try {
    assert.equal(await greets(socketPath, 100), false);
  } finally {
    for (const connection of held) connection.destroy();
    bridge.close();
  }
});

test('no socket at the path is not ready', async () => {
  assert.equal(await greets(path.join(dir, 'absent')), false);
});

test("a ZeroMQ socket greets at once, whatever its type (libzmq's ZMTP 3, as Deno's zeromq crate speaks it)", async () => {
  for (const socket of [new zmq.Router({ linger: 0 }), new zmq.Publisher({ linger: 0 }), new zmq.Reply({ linger: 0 })]) {
    const socketPath = path.join(dir, `zmq-${socket.constructor.name}`);
    await socket.bind(`ipc://${socketPath}`);
    try {
      assert.equal(await greets(socketPath), true, socket.constructor.name);
    } finally {
      socket.close();
    }
  }
});

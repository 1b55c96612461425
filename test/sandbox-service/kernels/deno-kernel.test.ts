/**
 * Deno's Jupyter kernel (JavaScript/TypeScript) under bubblewrap, started by launchDenoKernel and
 * spoken to over its bridged ipc sockets by the sandbox's own Jupyter client.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir, networkInterfaces } from 'node:os';
import path from 'node:path';
import * as zmq from 'zeromq';
import { greets, launchDenoKernel } from '../../../src/sandbox-service/kernels/deno-kernel.ts';
import { KernelConnection } from '../../../src/sandbox-service/kernels/kernel-connection.ts';
import type { LaunchedKernel } from '../../../src/sandbox-service/kernels/kernel-launch.ts';
import { commandLine, descendants, processesIn, sandboxNamespaces, stillRunning } from '../../support/processes.ts';

interface Run {
  reply: Record<string, unknown>;
  stdout: string;
  error?: { ename: string; evalue: string; traceback: string[] };
}

interface TappedMessage {
  msgType: string;
  content: Record<string, unknown>;
}

/**
 * Every iopub message, by parent id. KernelConnection stops listening for a request once its
 * reply and `idle` are in, but Deno publishes console output and results from another task and
 * may send them after `idle`; this tap keeps them.
 */
class IopubTap {
  readonly #socket = new zmq.Subscriber({ linger: 0 });
  readonly #byParent = new Map<string, TappedMessage[]>();
  readonly #watchers = new Set<() => void>();

  constructor(endpoint: string) {
    this.#socket.connect(endpoint);
    this.#socket.subscribe();
    void this.#receive();
  }

  async #receive(): Promise<void> {
    try {
      for await (const frames of this.#socket) {
        const at = frames.findIndex((frame) => frame.toString() === '<IDS|MSG>');
        const [header, parent, , content] = frames.slice(at + 2, at + 6).map((frame) => JSON.parse(frame.toString()));
        const list = this.#byParent.get(parent.msg_id) ?? [];
        list.push({ msgType: header.msg_type, content });
        this.#byParent.set(parent.msg_id, list);
        for (const watcher of [...this.#watchers]) watcher();
      }
    } catch {
      // closed
    }
  }

  of(parentId: string): TappedMessage[] {
    return this.#byParent.get(parentId) ?? [];
  }

  /** Resolves true once `check` holds, false after `ms`. */
  until(check: () => boolean, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(false), ms);
      const finish = (value: boolean) => {
        clearTimeout(timer);
        this.#watchers.delete(watcher);
        resolve(value);
      };
      const watcher = () => check() && finish(true);
      this.#watchers.add(watcher);
      watcher();
    });
  }

  /** Waits until the tap's subscription has landed (ZeroMQ drops what a late subscriber misses). */
  async connected(connection: KernelConnection): Promise<void> {
    for (;;) {
      const { msgId, done } = connection.request('shell', 'kernel_info_request', {});
      await done;
      if (await this.until(() => this.of(msgId).length > 0, 200)) return;
    }
  }

  close(): void {
    this.#socket.close();
  }
}

/**
 * Runs code and gathers its stdout and error. Then a silent barrier execute prints a marker: the
 * kernel's output task is a queue, so once the marker is in, everything the code printed is too.
 */
async function run(connection: KernelConnection, tap: IopubTap, code: string, onBusy?: () => void): Promise<Run> {
  const { msgId, done } = connection.execute(code, {
    onIopub: (message) => message.header.msg_type === 'execute_input' && onBusy?.(),
  });
  const reply = await done;
  const marker = `barrier-${randomUUID()}`;
  const barrier = connection.execute(`console.log(${JSON.stringify(marker)})`, { silent: true });
  await barrier.done;
  const isMarker = (m: TappedMessage) => m.msgType === 'stream' && String(m.content.text).includes(marker);
  assert.ok(await tap.until(() => tap.of(barrier.msgId).some(isMarker), 10_000), 'the barrier printed');
  const messages = tap.of(msgId);
  const outputTypes = ['stream', 'execute_result', 'display_data', 'error'];
  const late = tap.of(barrier.msgId).filter((m) => outputTypes.includes(m.msgType) && !isMarker(m));
  assert.deepEqual(late, [], 'no output of the code is attributed to the barrier');
  const stdout = messages
    .filter((m) => m.msgType === 'stream' && m.content.name === 'stdout')
    .map((m) => String(m.content.text))
    .join('');
  const error = messages.find((m) => m.msgType === 'error')?.content as Run['error'];
  return { reply, stdout, error };
}

/** The program a process runs: its command line's first word. */
const commandOf = (pid: number): string => commandLine(pid, '\0').split('\0')[0] ?? '';

describe('Deno kernel under bubblewrap', () => {
  const secretName = `DENO_KERNEL_TEST_SECRET_${process.pid}`;
  const root = mkdtempSync(path.join(tmpdir(), 'deno-kernel-test-'));
  const workspace = path.join(root, 'workspace');
  const outside = path.join(root, 'outside.txt');
  // Not under the host's /tmp: that path must stay reachable from outside (and short for unix sockets).
  const runDir = `/run/deno-kernel-test-${process.pid}`;
  let kernel: LaunchedKernel;
  let connection: KernelConnection;
  let tap: IopubTap;
  let hostServer: Server;
  let hostPort: number;

  before(async () => {
    process.env[secretName] = 'server-secret';
    writeFileSync(outside, 'planted outside the workspace');
    mkdirSync(workspace);
    hostServer = createServer((_req, res) => res.end('reached the host'));
    await new Promise<void>((resolve) => hostServer.listen(0, '127.0.0.1', resolve));
    hostPort = (hostServer.address() as { port: number }).port;
    kernel = await launchDenoKernel({
      language: 'typescript',
      workspace,
      workspaceMount: '/home/user',
      runDir,
      memoryMb: 512,
      allowNetwork: false,
      env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' },
    });
    connection = await KernelConnection.open(kernel.endpoints, kernel.key, { maxMessageBytes: 16 * 1024 * 1024 });
    tap = new IopubTap(kernel.endpoints.iopub);
    await tap.connected(connection);
  });

  after(async () => {
    connection?.close();
    tap?.close();
    await kernel?.kill();
    hostServer?.close();
    delete process.env[secretName];
    rmSync(root, { recursive: true, force: true });
  });

  test('runs code and prints', async () => {
    const result = await run(connection, tap, 'console.log("hello from deno", 6 * 7)');
    assert.equal(result.reply.status, 'ok');
    assert.equal(result.stdout, 'hello from deno 42\n');
  });

  test('keeps state between executes, and takes TypeScript', async () => {
    await run(connection, tap, 'let counter: number = 41; interface Box { n: number }');
    const result = await run(connection, tap, 'const box: Box = { n: counter + 1 }; console.log(box.n)');
    assert.equal(result.stdout, '42\n');
  });

  test('reports a thrown error with its name, value and traceback', async () => {
    const result = await run(connection, tap, 'throw new TypeError("bad thing")');
    assert.equal(result.reply.status, 'error');
    assert.equal(result.error?.ename, 'TypeError');
    assert.equal(result.error?.evalue, 'bad thing');
    assert.match(result.error?.traceback.join('\n') ?? '', /TypeError: bad thing/);
  });

  test('has no network: neither the host nor a closed port are reachable', async () => {
    const result = await run(
      connection,
      tap,
      `
      const outcomes: string[] = [];
      for (const url of ['http://127.0.0.1:${hostPort}/', 'http://127.0.0.1:1/']) {
        try { outcomes.push(await (await fetch(url)).text()); } catch (e) { outcomes.push('failed: ' + e.name); }
      }
      console.log(JSON.stringify(outcomes))`,
    );
    const outcomes = JSON.parse(result.stdout) as string[];
    assert.equal(outcomes.length, 2);
    for (const outcome of outcomes) assert.match(outcome, /^failed/);
  });

  test('cannot read files outside the workspace, nor the project', async () => {
    for (const file of [outside, path.resolve('package.json')]) {
      assert.ok(existsSync(file));
      const result = await run(connection, tap, `Deno.readTextFileSync(${JSON.stringify(file)})`);
      assert.equal(result.reply.status, 'error', `${file} must be unreadable`);
      assert.equal(result.error?.ename, 'NotFound');
    }
  });

  test("does not see the server's environment", async () => {
    assert.equal(process.env[secretName], 'server-secret');
    const result = await run(connection, tap, `console.log(String(Deno.env.get(${JSON.stringify(secretName)})))`);
    assert.equal(result.stdout, 'undefined\n');
  });

  test('writes to the workspace, and nowhere else outside /tmp', async () => {
    const ok = await run(connection, tap, 'Deno.writeTextFileSync("/home/user/out.txt", "written inside"); console.log(Deno.cwd())');
    assert.equal(ok.stdout, '/home/user\n');
    assert.equal(readFileSync(path.join(workspace, 'out.txt'), 'utf8'), 'written inside');
    // The code's files get the server's umask (the launcher's own, for its sockets, is not passed on).
    assert.equal(statSync(path.join(workspace, 'out.txt')).mode & 0o777, 0o666 & ~process.umask());
    for (const file of ['/usr/planted.txt', '/planted.txt', '/run/kernel/planted.txt', '/run/connection.json']) {
      const denied = await run(connection, tap, `Deno.writeTextFileSync(${JSON.stringify(file)}, "x")`);
      assert.equal(denied.reply.status, 'error', `${file} must not be writable`);
    }
  });

  test('cannot touch the sockets the server connects to, and holds no capabilities', async () => {
    const result = await run(
      connection,
      tap,
      `
      console.log(JSON.stringify({
        sockets: [...Deno.readDirSync('/run/kernel')].map((e) => e.name),
        caps: Deno.readTextFileSync('/proc/self/status').split('\\n')
          .filter((l) => /^Cap(Prm|Eff|Bnd|Amb)/.test(l)).map((l) => l.split('\\t')[1]),
      }))`,
    );
    assert.deepEqual(JSON.parse(result.stdout), { sockets: [], caps: Array(4).fill('0000000000000000') });
    assert.ok(existsSync(path.join(runDir, 'shell')), 'the sockets are still there for the server');
  });

  test("once started, each of the five channels answers through its bridge, and each socket is the server's alone", async () => {
    // A channel whose bridge accepts while Deno has not bound its port yet drops the server's
    // connection, which the server takes for a dead kernel: the start waits for every greeting.
    for (const [channel, endpoint] of Object.entries(kernel.endpoints)) {
      const socketPath = endpoint.slice('ipc://'.length);
      assert.equal(await greets(socketPath), true, `${channel} greets`);
      assert.equal(statSync(socketPath).mode & 0o077, 0, `${channel}: no access for group or others`);
    }
  });

  test('an interrupt on the control channel stops a busy loop; state survives', async () => {
    const result = await run(connection, tap, 'while (true) {}', () => setTimeout(() => void connection.interrupt(), 100));
    assert.equal(result.reply.status, 'error');
    const after = await run(connection, tap, 'console.log(counter)');
    assert.equal(after.stdout, '41\n');
  });

  test('kill() ends the whole process tree and removes runDir', async () => {
    // The kernel's tree: bwrap, started by this process, and all below it (not tsx's esbuild).
    const sandboxes = descendants(process.pid, 1).filter((pid) => path.basename(commandOf(pid)) === 'bwrap');
    const [sandbox] = sandboxes;
    assert.ok(sandbox !== undefined && sandboxes.length === 1, `one sandbox: ${sandboxes}`);
    const pids = [sandbox, ...descendants(sandbox)];
    const commands = pids.map(commandOf);
    assert.ok(commands.includes('/usr/bin/socat'), `socat runs: ${commands}`);
    assert.ok(
      commands.some((c) => c.endsWith('deno')),
      `deno runs: ${commands}`,
    );
    assert.ok(existsSync(path.join(runDir, 'shell')));
    const namespaces = sandboxNamespaces();
    assert.equal(namespaces.size, 1);
    connection.close();
    tap.close();
    await kernel.kill();
    await kernel.exited;
    const left = stillRunning(pids);
    assert.deepEqual(left, [], 'no process of the kernel is left');
    assert.deepEqual(stillRunning(processesIn(namespaces)), [], "nothing is left in the sandbox's pid namespace");
    assert.equal(existsSync(runDir), false);
    await kernel.kill(); // safe twice
  });
});

describe('Deno kernel with the network allowed', () => {
  // Egress goes through slirp4netns: the host's own address is reachable, its loopback is not (docs/security.md).
  test('reaches the host, and a kernel that exits on its own resolves exited', async (t) => {
    const hostAddress = Object.values(networkInterfaces())
      .flat()
      .find((address) => address && address.family === 'IPv4' && !address.internal)?.address;
    if (!hostAddress) return t.skip('the host has no address but loopback');
    const root = mkdtempSync(path.join(tmpdir(), 'deno-kernel-net-'));
    const runDir = `/run/deno-kernel-net-${process.pid}`;
    const server = createServer((_req, res) => res.end('reached the host'));
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
    const port = (server.address() as { port: number }).port;
    const kernel = await launchDenoKernel({
      language: 'javascript',
      workspace: root,
      workspaceMount: '/home/user',
      runDir,
      memoryMb: 256,
      allowNetwork: true,
      env: {},
    });
    const connection = await KernelConnection.open(kernel.endpoints, kernel.key, { maxMessageBytes: 16 * 1024 * 1024 });
    const tap = new IopubTap(kernel.endpoints.iopub);
    try {
      await tap.connected(connection);
      assert.match(kernel.endpoints.shell, /^ipc:\/\//);
      const fetched = await run(connection, tap, `console.log(await (await fetch('http://${hostAddress}:${port}/')).text())`);
      assert.equal(fetched.stdout, 'reached the host\n');
      const loopback = await run(
        connection,
        tap,
        `try { await fetch('http://127.0.0.1:${port}/'); console.log('loopback reached') } catch { console.log('no loopback') }`,
      );
      assert.equal(loopback.stdout, 'no loopback\n');

      const namespaces = sandboxNamespaces();
      assert.equal(namespaces.size, 1);
      connection.execute('Deno.exit(3)');
      const exit = await kernel.exited;
      assert.equal(exit.code, 3);
      assert.deepEqual(stillRunning(processesIn(namespaces)), []);
    } finally {
      connection.close();
      tap.close();
      await kernel.kill();
      server.close();
      rmSync(root, { recursive: true, force: true });
    }
    assert.equal(existsSync(runDir), false);
  });
});

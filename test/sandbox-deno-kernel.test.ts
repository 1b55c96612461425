/**
 * Deno's Jupyter kernel (JavaScript/TypeScript) under bubblewrap, started by launchDenoKernel and
 * spoken to over its bridged ipc sockets with just enough of the Jupyter messaging protocol.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as zmq from 'zeromq';
import { launchDenoKernel } from '../src/local-sandbox/deno-kernel.ts';
import type { LaunchedKernel } from '../src/local-sandbox/kernel-launch.ts';

interface JupyterMessage {
  header: { msg_id: string; msg_type: string };
  parent_header: { msg_id?: string };
  content: Record<string, unknown>;
}

interface Execution {
  reply: JupyterMessage;
  iopub: JupyterMessage[];
  stdout: string;
  /** text/plain of the execute_result, ANSI colour codes removed. */
  result?: string;
  error?: { ename: string; evalue: string; traceback: string[] };
}

const DELIMITER = '<IDS|MSG>';
const stripAnsi = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, '');

/** A minimal Jupyter client: signed messages on shell and control, iopub collected per request. */
class MinimalJupyterClient {
  private shell = new zmq.Dealer({ linger: 0 });
  private control = new zmq.Dealer({ linger: 0 });
  private iopub = new zmq.Subscriber({ linger: 0 });
  private waiting = new Map<string, { iopub: JupyterMessage[]; reply?: JupyterMessage; check: () => void }>();

  constructor(private kernel: LaunchedKernel) {
    this.shell.connect(kernel.endpoints.shell);
    this.control.connect(kernel.endpoints.control);
    this.iopub.connect(kernel.endpoints.iopub);
    this.iopub.subscribe();
    void this.pump(this.iopub, (message, pending) => pending.iopub.push(message));
    void this.pump(this.shell, (message, pending) => (pending.reply = message));
    void this.pump(this.control, () => undefined);
  }

  private async pump(
    socket: zmq.Dealer | zmq.Subscriber,
    onMessage: (message: JupyterMessage, pending: { iopub: JupyterMessage[]; reply?: JupyterMessage }) => void,
  ) {
    try {
      for await (const frames of socket) {
        const message = this.decode(frames);
        const pending = message && this.waiting.get(message.parent_header.msg_id ?? '');
        if (!message || !pending) continue;
        onMessage(message, pending);
        pending.check();
      }
    } catch {
      // socket closed
    }
  }

  private sign(parts: string[]): string {
    const hmac = createHmac('sha256', this.kernel.key);
    for (const part of parts) hmac.update(part);
    return hmac.digest('hex');
  }

  private decode(frames: Buffer[]): JupyterMessage | undefined {
    const at = frames.findIndex((frame) => frame.toString() === DELIMITER);
    const [signature, ...parts] = frames.slice(at + 1, at + 6).map(String);
    assert.equal(signature, this.sign(parts), 'the kernel signs its messages with the key');
    const [header, parentHeader, , content] = parts.map((part) => JSON.parse(part));
    return { header, parent_header: parentHeader, content };
  }

  private encode(msgType: string, content: object): { id: string; frames: string[] } {
    const id = randomUUID();
    const header = { msg_id: id, session: 'test', username: 'test', date: new Date().toISOString(), msg_type: msgType, version: '5.3' };
    const parts = [JSON.stringify(header), '{}', '{}', JSON.stringify(content)];
    return { id, frames: [DELIMITER, this.sign(parts), ...parts] };
  }

  /**
   * Runs code; settles when the reply and iopub's idle have come and, when a result is
   * expected, the result too (Deno may send it after idle).
   */
  execute(code: string, expect: { result?: boolean; onBusy?: () => void } = {}): Promise<Execution> {
    const { id, frames } = this.encode('execute_request', {
      code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true,
    });
    return new Promise((resolve) => {
      let sawBusy = false;
      const pending = {
        iopub: [] as JupyterMessage[],
        reply: undefined as JupyterMessage | undefined,
        check: () => {
          const types = pending.iopub.map((m) => m.header.msg_type);
          if (!sawBusy && types.includes('execute_input')) {
            sawBusy = true;
            expect.onBusy?.();
          }
          const idle = pending.iopub.some((m) => m.header.msg_type === 'status' && m.content.execution_state === 'idle');
          const result = pending.iopub.find((m) => m.header.msg_type === 'execute_result');
          if (!pending.reply || !idle || (expect.result && !result)) return;
          this.waiting.delete(id);
          const error = pending.iopub.find((m) => m.header.msg_type === 'error');
          resolve({
            reply: pending.reply,
            iopub: pending.iopub,
            stdout: pending.iopub
              .filter((m) => m.header.msg_type === 'stream' && m.content.name === 'stdout')
              .map((m) => String(m.content.text))
              .join(''),
            result: result && stripAnsi(String((result.content.data as Record<string, string>)['text/plain'])),
            error: error?.content as Execution['error'],
          });
        },
      };
      this.waiting.set(id, pending);
      void this.shell.send(frames);
    });
  }

  /**
   * Resolves once iopub delivers: a subscriber connects late and misses what was published
   * before (ZeroMQ's slow joiner), so ask for kernel_info until its status comes through.
   */
  async connected(): Promise<void> {
    for (;;) {
      const { id, frames } = this.encode('kernel_info_request', {});
      const seen = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 200);
        const entry = {
          iopub: [] as JupyterMessage[],
          check: () => {
            if (entry.iopub.length === 0) return; // the shell reply alone proves nothing about iopub
            clearTimeout(timer);
            resolve(true);
          },
        };
        this.waiting.set(id, entry);
      });
      await this.shell.send(frames);
      const ok = await seen;
      this.waiting.delete(id);
      if (ok) return;
    }
  }

  async interrupt(): Promise<void> {
    await this.control.send(this.encode('interrupt_request', {}).frames);
  }

  close(): void {
    this.shell.close();
    this.control.close();
    this.iopub.close();
  }
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '';
  } catch {
    return '';
  }
}

/** Every process descended from `root` (only its children with `depth` 1), read from /proc. */
function descendants(root: number, depth = Infinity): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  let frontier = [root];
  for (let level = 0; frontier.length && level < depth; level++) {
    const next = [...parentOf].filter(([, ppid]) => frontier.includes(ppid)).map(([pid]) => pid);
    found.push(...next);
    frontier = next;
  }
  return found;
}

describe('Deno kernel under bubblewrap', () => {
  const secretName = `DENO_KERNEL_TEST_SECRET_${process.pid}`;
  const root = mkdtempSync(path.join(tmpdir(), 'deno-kernel-test-'));
  const workspace = path.join(root, 'workspace');
  const outside = path.join(root, 'outside.txt');
  // Not under the host's /tmp: that path must stay reachable from outside (and short for unix sockets).
  const runDir = `/run/deno-kernel-test-${process.pid}`;
  let kernel: LaunchedKernel;
  let client: MinimalJupyterClient;
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
    client = new MinimalJupyterClient(kernel);
    await client.connected();
  });

  after(async () => {
    client?.close();
    await kernel?.kill();
    hostServer?.close();
    delete process.env[secretName];
    rmSync(root, { recursive: true, force: true });
  });

  test('runs code and prints', async () => {
    const run = await client.execute('console.log("hello from deno", 6 * 7)');
    assert.equal(run.reply.content.status, 'ok');
    assert.equal(run.stdout, 'hello from deno 42\n');
  });

  test('keeps state between executes, and takes TypeScript', async () => {
    await client.execute('let counter: number = 41; interface Box { n: number }');
    const run = await client.execute('const box: Box = { n: counter + 1 }; box.n', { result: true });
    assert.equal(run.result, '42');
  });

  test('reports a thrown error with its name, value and traceback', async () => {
    const run = await client.execute('throw new TypeError("bad thing")');
    assert.equal(run.reply.content.status, 'error');
    assert.equal(run.error?.ename, 'TypeError');
    assert.equal(run.error?.evalue, 'bad thing');
    assert.match(run.error?.traceback.join('\n') ?? '', /TypeError: bad thing/);
  });

  test('has no network: neither the host nor a closed port are reachable', async () => {
    const run = await client.execute(`
      const outcomes: string[] = [];
      for (const url of ['http://127.0.0.1:${hostPort}/', 'http://127.0.0.1:1/']) {
        try { outcomes.push(await (await fetch(url)).text()); } catch (e) { outcomes.push('failed: ' + e.name); }
      }
      console.log(JSON.stringify(outcomes))`);
    const outcomes = JSON.parse(run.stdout) as string[];
    assert.equal(outcomes.length, 2);
    for (const outcome of outcomes) assert.match(outcome, /^failed/);
  });

  test('cannot read files outside the workspace, nor the project', async () => {
    for (const file of [outside, path.resolve('package.json')]) {
      assert.ok(existsSync(file));
      const run = await client.execute(`Deno.readTextFileSync(${JSON.stringify(file)})`);
      assert.equal(run.reply.content.status, 'error', `${file} must be unreadable`);
      assert.equal(run.error?.ename, 'NotFound');
    }
  });

  test("does not see the server's environment", async () => {
    assert.equal(process.env[secretName], 'server-secret');
    const run = await client.execute(`String(Deno.env.get(${JSON.stringify(secretName)}))`, { result: true });
    assert.equal(run.result, '"undefined"');
  });

  test('writes to the workspace, and nowhere else outside /tmp', async () => {
    const ok = await client.execute('Deno.writeTextFileSync("/home/user/out.txt", "written inside"); Deno.cwd()', { result: true });
    assert.equal(ok.result, '"/home/user"');
    assert.equal(readFileSync(path.join(workspace, 'out.txt'), 'utf8'), 'written inside');
    for (const file of ['/usr/planted.txt', '/planted.txt', '/run/kernel/planted.txt', '/run/connection.json']) {
      const denied = await client.execute(`Deno.writeTextFileSync(${JSON.stringify(file)}, "x")`);
      assert.equal(denied.reply.content.status, 'error', `${file} must not be writable`);
    }
  });

  test("cannot touch the sockets the server connects to, and holds no capabilities", async () => {
    const run = await client.execute(`
      console.log(JSON.stringify({
        sockets: [...Deno.readDirSync('/run/kernel')].map((e) => e.name),
        caps: Deno.readTextFileSync('/proc/self/status').split('\\n').filter((l) => /^Cap(Prm|Eff|Bnd)/.test(l)).map((l) => l.split('\\t')[1]),
      }))`);
    assert.deepEqual(JSON.parse(run.stdout), { sockets: [], caps: ['0000000000000000', '0000000000000000', '0000000000000000'] });
    assert.ok(existsSync(path.join(runDir, 'shell')), 'the sockets are still there for the server');
  });

  test('an interrupt on the control channel stops a busy loop; state survives', async () => {
    const run = await client.execute('while (true) {}', { onBusy: () => setTimeout(() => void client.interrupt(), 100) });
    assert.equal(run.reply.content.status, 'error');
    const after = await client.execute('counter', { result: true });
    assert.equal(after.result, '41');
  });

  test('kill() ends the whole process tree and removes runDir', async () => {
    // The kernel's tree: bwrap, started by this process, and all below it (not tsx's esbuild).
    const sandboxes = descendants(process.pid, 1).filter((pid) => commandOf(pid) === 'bwrap');
    const [sandbox] = sandboxes;
    assert.ok(sandbox !== undefined && sandboxes.length === 1, `one sandbox: ${sandboxes}`);
    const pids = [sandbox, ...descendants(sandbox)];
    const commands = pids.map(commandOf);
    assert.ok(commands.includes('/usr/bin/socat'), `socat runs: ${commands}`);
    assert.ok(commands.some((c) => c.endsWith('deno')), `deno runs: ${commands}`);
    assert.ok(existsSync(path.join(runDir, 'shell')));

    client.close();
    await kernel.kill();
    await kernel.exited;
    const left = pids.filter((pid) => existsSync(`/proc/${pid}`));
    assert.deepEqual(left, [], 'no process of the kernel is left');
    assert.equal(existsSync(runDir), false);
    await kernel.kill(); // safe twice
  });
});

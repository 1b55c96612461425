/**
 * The floor under both paths: one ipykernel spoken to directly with the Jupyter
 * messaging protocol over ZeroMQ, with no HTTP server in between. Deliberately
 * minimal and independent of the sandbox service's own client, so the bench can
 * say how much of a request's time is the kernel's and how much is ours.
 */
import { spawn } from 'node:child_process';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Dealer, Subscriber } from 'zeromq';
import { pidsWithArgument } from '../../test/support/processes.ts';
import { delay, killAll, scratchDir } from './processes.ts';

const DELIMITER = '<IDS|MSG>';

export interface KernelAddresses {
  shell: string;
  iopub: string;
  /** HMAC-SHA256 key of the kernel's message signatures. */
  key: string;
}

interface Message {
  header: { msg_id: string; msg_type: string };
  parent_header: { msg_id?: string };
  content: Record<string, unknown>;
}

export interface DirectKernelClient {
  /** Runs code; resolves with the cell's text/plain value once the reply and the idle status are in. */
  execute(code: string): Promise<string | undefined>;
  close(): void;
}

export async function connectKernel(addresses: KernelAddresses): Promise<DirectKernelClient> {
  const session = randomUUID();
  const shell = new Dealer({ linger: 0 });
  const iopub = new Subscriber({ linger: 0 });
  shell.connect(addresses.shell);
  iopub.connect(addresses.iopub);
  iopub.subscribe();

  const sign = (parts: Buffer[]) => {
    const hmac = createHmac('sha256', addresses.key);
    for (const part of parts) hmac.update(part);
    return hmac.digest('hex');
  };
  const send = async (msgId: string, msgType: string, content: object): Promise<void> => {
    const header = { msg_id: msgId, msg_type: msgType, session, username: 'bench', date: new Date().toISOString(), version: '5.3' };
    const parts = [header, {}, {}, content].map((part) => Buffer.from(JSON.stringify(part)));
    await shell.send([DELIMITER, sign(parts), ...parts]);
  };
  const parse = (frames: Buffer[]): Message => {
    const at = frames.findIndex((frame) => frame.toString() === DELIMITER);
    const [signature, header, parent, metadata, content] = frames.slice(at + 1);
    if (!signature || !header || !parent || !metadata || !content) throw new Error('short Jupyter message');
    if (signature.toString() !== sign([header, parent, metadata, content])) throw new Error('bad Jupyter message signature');
    return { header: JSON.parse(header.toString()), parent_header: JSON.parse(parent.toString()), content: JSON.parse(content.toString()) };
  };

  // One reader per socket, routing messages to whoever waits for their parent.
  const waiters = new Map<string, (message: Message, channel: 'shell' | 'iopub') => void>();
  let closed = false;
  const pump = async (socket: Dealer | Subscriber, channel: 'shell' | 'iopub') => {
    try {
      for await (const frames of socket) {
        const message = parse(frames);
        const parentId = message.parent_header.msg_id;
        if (parentId) waiters.get(parentId)?.(message, channel);
      }
    } catch (error) {
      if (!closed) throw error;
    }
  };
  void pump(shell, 'shell');
  void pump(iopub, 'iopub');

  /** Sends a request and waits for both its shell reply and its iopub idle status. */
  const request = (msgType: string, content: object, onIopub?: (message: Message) => void) =>
    new Promise<Message>((resolve, reject) => {
      let reply: Message | undefined;
      let idle = false;
      const msgId = randomUUID();
      // Listen before sending: under load the reply may come before send() settles.
      waiters.set(msgId, (message, channel) => {
        if (channel === 'shell') reply = message;
        else if (message.header.msg_type === 'status' && message.content.execution_state === 'idle') idle = true;
        else onIopub?.(message);
        if (reply && idle) {
          waiters.delete(msgId);
          resolve(reply);
        }
      });
      send(msgId, msgType, content).catch((error: unknown) => {
        waiters.delete(msgId);
        reject(error);
      });
    });

  // Until iopub's subscription has reached the kernel, idle statuses are lost
  // (ZeroMQ's "slow joiner"): ask for kernel_info until one comes back whole.
  for (let attempt = 0; ; attempt++) {
    const ready = await Promise.race([request('kernel_info_request', {}).then(() => true), delay(500).then(() => false)]);
    if (ready) break;
    if (attempt > 60) throw new Error('kernel did not answer kernel_info within 30 s');
  }

  return {
    async execute(code) {
      let value: string | undefined;
      const reply = await request(
        'execute_request',
        { code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true },
        (message) => {
          if (message.header.msg_type === 'execute_result') value = (message.content.data as Record<string, string>)['text/plain'];
        },
      );
      if (reply.content.status !== 'ok') throw new Error(`execute failed: ${JSON.stringify(reply.content)}`);
      return value;
    },
    close() {
      closed = true;
      shell.close();
      iopub.close();
    },
  };
}

export interface PlainKernel extends KernelAddresses {
  close(): Promise<void>;
}

/**
 * Starts /usr/bin/python3's ipykernel with ipc sockets in a directory of its own,
 * outside any sandbox: the kernel as fast as it goes on this machine.
 */
export async function startPlainKernel(): Promise<PlainKernel> {
  const dir = await mkdtemp(join(scratchDir(), 'bench-kernel-'));
  const key = randomBytes(16).toString('hex');
  const connection = {
    transport: 'ipc',
    ip: join(dir, 'k'),
    shell_port: 1,
    iopub_port: 2,
    stdin_port: 3,
    control_port: 4,
    hb_port: 5,
    key,
    signature_scheme: 'hmac-sha256',
  };
  const file = join(dir, 'connection.json');
  await writeFile(file, JSON.stringify(connection));
  const child = spawn('/usr/bin/python3', ['-m', 'ipykernel_launcher', '-f', file], {
    env: { PATH: '/usr/bin:/bin', HOME: dir, LANG: 'C.UTF-8', MPLCONFIGDIR: dir, IPYTHONDIR: join(dir, 'ipython') },
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    shell: `ipc://${connection.ip}-1`,
    iopub: `ipc://${connection.ip}-2`,
    key,
    async close() {
      child.kill('SIGTERM');
      await Promise.race([exited, delay(3000)]);
      killAll(pidsWithArgument(dir));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

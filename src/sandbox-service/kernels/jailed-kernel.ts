/**
 * The steps every kernel launcher takes, whatever the language: a connection file with a
 * fresh key in the kernel's run directory, lent to the jail's uid; the jail
 * (bubblewrap.ts); the kernel's five sockets waited for, then sealed. A launcher says
 * only what differs: the connection file, the jail's options, the socket names, and
 * what more "ready" means for it.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { lendRunDir, sealRunDir, spawnJailed } from '../jail/bubblewrap.ts';
import type { JailCommandOptions, JailedProcess } from '../jail/jail-command.ts';
import { CHANNELS, type Channel, describeExit, type KernelEndpoints, type KernelExit, type LaunchedKernel } from './kernel-launch.ts';

/**
 * Throws when the jail has exited or the start's deadline has passed, naming what the
 * start still waited for; a launcher's own readiness loop calls it every round.
 */
export type StartCheck = (waitingFor: string) => void;

export interface JailedKernel {
  /** As errors name it, e.g. `Python`. */
  name: string;
  /** The connection file's fields but the key and signature scheme, which are the same for every kernel. */
  connection: Record<string, unknown>;
  /** The jail, with the kernel in it: its runDir (absolute) and hostUid are the kernel's. */
  sandbox: JailCommandOptions;
  /** The name in runDir of the socket the server reaches a channel through. */
  socketName(channel: Channel): string;
  /** How long the whole start may take. */
  startTimeoutMs: number;
  /** What readiness takes besides the sockets existing (e.g. a heartbeat through a bridge). */
  ready?: (endpoints: KernelEndpoints, check: StartCheck) => Promise<void>;
}

export async function startJailedKernel(kernel: JailedKernel): Promise<LaunchedKernel> {
  const { runDir, hostUid } = kernel.sandbox;
  await mkdir(runDir, { recursive: true, mode: 0o700 });
  let sandbox: JailedProcess | undefined;
  let killing: Promise<void> | undefined;
  const kill = () =>
    (killing ??= (async () => {
      await sandbox?.kill();
      await rm(runDir, { recursive: true, force: true });
    })());

  const socketPath = (channel: Channel) => path.join(runDir, kernel.socketName(channel));
  const endpoints = Object.fromEntries(CHANNELS.map((channel) => [channel, `ipc://${socketPath(channel)}`])) as KernelEndpoints;
  try {
    const key = randomBytes(32).toString('hex');
    const connection = { ...kernel.connection, key, signature_scheme: 'hmac-sha256' };
    await writeFile(path.join(runDir, 'connection.json'), JSON.stringify(connection), { mode: 0o600 });
    await lendRunDir(runDir, hostUid, ['connection.json']);
    const jail = spawnJailed(kernel.sandbox);
    sandbox = jail;
    const check = startCheck(kernel, jail);
    await waitForSockets(CHANNELS.map(socketPath), check);
    // With the network allowed: code runs only once its way out is up.
    await jail.network;
    await kernel.ready?.(endpoints, check);
    await sealRunDir(
      runDir,
      hostUid,
      CHANNELS.map((channel) => kernel.socketName(channel)),
    );
    return { endpoints, key, pid: jail.pid, exited: jail.exited, kill };
  } catch (error) {
    await kill();
    throw error;
  }
}

function startCheck(kernel: JailedKernel, jail: JailedProcess): StartCheck {
  const deadline = Date.now() + kernel.startTimeoutMs;
  let ended: KernelExit | undefined;
  void jail.exited.then((exit) => {
    ended = exit;
  });
  const fail = (why: string) => {
    const output = jail.outputTail();
    return new Error(`the ${kernel.name} kernel did not start: ${why}${output ? `\n${output}` : ''}`);
  };
  return (waitingFor) => {
    if (ended) throw fail(`it exited (${describeExit(ended)})`);
    if (Date.now() > deadline) throw fail(`no ${waitingFor} within ${kernel.startTimeoutMs / 1000} s`);
  };
}

/** The kernel (or its bridge) has bound its sockets once every path exists. */
async function waitForSockets(paths: string[], check: StartCheck): Promise<void> {
  for (;;) {
    check('sockets');
    const present = await Promise.all(
      paths.map((socket) =>
        lstat(socket).then(
          () => true,
          () => false,
        ),
      ),
    );
    if (present.every(Boolean)) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

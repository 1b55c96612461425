/**
 * Starts Debian's ipykernel (`/usr/bin/python3 -m ipykernel_launcher`) under
 * bubblewrap, listening on ZeroMQ `ipc://` sockets in the kernel's run directory:
 * no TCP port at all, so the kernel needs no network namespace plumbing.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RUN_MOUNT, baseKernelEnv, lendRunDir, sealRunDir, spawnSandboxed } from './bubblewrap.ts';
import type { KernelEndpoints, KernelLauncher, LaunchedKernel } from './kernel-launch.ts';

const PYTHON = '/usr/bin/python3';
const CHANNELS = ['shell', 'iopub', 'stdin', 'control', 'hb'] as const;
const SOCKET_PREFIX = 'k';
const START_TIMEOUT_MS = 30_000;
const CONNECTION_COPY = '/tmp/.connection.json';

export const launchPythonKernel: KernelLauncher = async (options) => {
  await mkdir(options.runDir, { recursive: true, mode: 0o700 });
  const key = randomBytes(32).toString('hex');
  // ipykernel's ipc transport binds `<ip>-<port>`: fixed small "ports" give fixed socket names.
  const ports = { shell_port: 1, iopub_port: 2, stdin_port: 3, control_port: 4, hb_port: 5 };
  const connection = {
    transport: 'ipc',
    ip: `${RUN_MOUNT}/${SOCKET_PREFIX}`,
    ...ports,
    key,
    signature_scheme: 'hmac-sha256',
    kernel_name: 'python3',
  };
  await writeFile(join(options.runDir, 'connection.json'), JSON.stringify(connection), { mode: 0o600 });
  await lendRunDir(options.runDir, options.hostUid, ['connection.json']);

  const env = {
    ...baseKernelEnv(options.workspaceMount),
    // IPython and matplotlib keep caches under HOME by default: keep them out of the workspace.
    IPYTHONDIR: '/tmp/.ipython',
    MPLCONFIGDIR: '/tmp/.matplotlib',
    MPLBACKEND: 'module://matplotlib_inline.backend_inline',
    PYDEVD_DISABLE_FILE_VALIDATION: '1',
    PYTHONUNBUFFERED: '1',
    // OpenBLAS reserves address space per thread: one thread keeps numpy within the memory limit.
    OPENBLAS_NUM_THREADS: '1',
    ...options.env,
  };
  const process = spawnSandboxed({
    hostUid: options.hostUid,
    seccompFilter: options.seccomp?.code,
    workspace: options.workspace,
    workspaceMount: options.workspaceMount,
    runDir: options.runDir,
    memoryMb: options.memoryMb,
    cgroupDirs: options.cgroupDirs,
    allowNetwork: options.allowNetwork,
    // The private /tmp is memory: bound it like the kernel itself.
    tmpSizeMb: options.memoryMb > 0 ? options.memoryMb : undefined,
    env,
    // ipykernel rewrites its connection file (remove, create) once its sockets are bound: it
    // gets a copy in its private /tmp, so the run directory can be sealed as soon as the sockets
    // exist. -P: nothing planted in the workspace (the cwd) is imported at start.
    command: [
      '/bin/sh',
      '-c',
      `cp ${RUN_MOUNT}/connection.json ${CONNECTION_COPY} && exec ${PYTHON} -P -Xfrozen_modules=off -m ipykernel_launcher -f ${CONNECTION_COPY}`,
    ],
  });

  let killed: Promise<void> | undefined;
  const kill = () =>
    (killed ??= (async () => {
      await process.kill();
      await rm(options.runDir, { recursive: true, force: true });
    })());

  const socketPath = (port: number) => join(options.runDir, `${SOCKET_PREFIX}-${port}`);
  const endpoints = Object.fromEntries(
    CHANNELS.map((channel) => [channel, `ipc://${socketPath(ports[`${channel}_port`])}`]),
  ) as unknown as KernelEndpoints;

  try {
    await waitForSockets(
      CHANNELS.map((channel) => socketPath(ports[`${channel}_port`])),
      process.exited,
      process.outputTail,
    );
    await sealRunDir(
      options.runDir,
      options.hostUid,
      CHANNELS.map((channel) => `${SOCKET_PREFIX}-${ports[`${channel}_port`]}`),
    );
  } catch (error) {
    await kill();
    throw error;
  }
  const launched: LaunchedKernel = { endpoints, key, pid: process.pid, exited: process.exited, kill };
  return launched;
};

/** The kernel is reachable once it has bound all five sockets; fails early if it exits first. */
async function waitForSockets(paths: string[], exited: Promise<unknown>, outputTail: () => string): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (gone) throw new Error(`the Python kernel exited while starting: ${outputTail() || 'no output'}`);
    const present = await Promise.all(
      paths.map((path) =>
        lstat(path).then(
          () => true,
          () => false,
        ),
      ),
    );
    if (present.every(Boolean)) return;
    if (Date.now() > deadline) throw new Error(`the Python kernel did not start within ${START_TIMEOUT_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

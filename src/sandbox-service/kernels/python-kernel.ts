/**
 * Starts Debian's ipykernel (`/usr/bin/python3 -m ipykernel_launcher`) under
 * bubblewrap, listening on ZeroMQ `ipc://` sockets in the kernel's run directory:
 * no TCP port at all, so the kernel needs no network namespace plumbing.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { baseKernelEnv } from '../jail/bubblewrap.ts';
import { RUN_MOUNT } from '../jail/jail-command.ts';
import { startJailedKernel } from './jailed-kernel.ts';
import type { Channel, KernelLauncher, KernelLaunchOptions } from './kernel-launch.ts';

const PYTHON = '/usr/bin/python3';
const SOCKET_PREFIX = 'k';
const START_TIMEOUT_MS = 30_000;
export const CONNECTION_COPY = '/tmp/.connection.json';
/** ipykernel's ipc transport binds `<ip>-<port>`: fixed small "ports" give fixed socket names. */
const PORTS: Record<Channel, number> = { shell: 1, iopub: 2, stdin: 3, control: 4, hb: 5 };

/** ipykernel_launcher's start without what a sandbox's kernel never uses (see the file); it travels in a variable it removes. */
const START_SCRIPT = readFileSync(new URL('./python-kernel-start.py', import.meta.url), 'utf8');
const START_VARIABLE = 'SANDBOX_PYTHON_START';

export const launchPythonKernel: KernelLauncher = (options) =>
  launchIpcKernel(options, 'Python', 'python3', `${PYTHON} -P -c "$${START_VARIABLE}" -f ${CONNECTION_COPY}`, {
    [START_VARIABLE]: START_SCRIPT,
  });

/**
 * A kernel that speaks Jupyter over ipykernel-style `ipc` sockets (ipykernel itself, a kernel
 * on its base such as bash-kernel.py, IRkernel) in the Python kernel's jail. `program` runs
 * in /bin/sh with the connection file's private copy at CONNECTION_COPY.
 */
export function launchIpcKernel(
  options: KernelLaunchOptions,
  name: string,
  kernelName: string,
  program: string,
  extraEnv: Record<string, string> = {},
): ReturnType<KernelLauncher> {
  const runDir = path.resolve(options.runDir);
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
    ...extraEnv,
    ...options.env,
  };
  return startJailedKernel({
    name,
    connection: {
      transport: 'ipc',
      ip: `${RUN_MOUNT}/${SOCKET_PREFIX}`,
      ...Object.fromEntries(Object.entries(PORTS).map(([channel, port]) => [`${channel}_port`, port])),
      kernel_name: kernelName,
    },
    socketName: (channel) => `${SOCKET_PREFIX}-${PORTS[channel]}`,
    startTimeoutMs: START_TIMEOUT_MS,
    sandbox: {
      hostUid: options.hostUid,
      spare: options.spare,
      seccompFilter: options.seccomp?.code,
      workspace: options.workspace,
      workspaceMount: options.workspaceMount,
      runDir,
      memoryMb: options.memoryMb,
      cgroupDirs: options.cgroupDirs,
      allowNetwork: options.allowNetwork,
      egress: options.egress,
      // The private /tmp is memory: bound it like the kernel itself.
      tmpSizeMb: options.memoryMb > 0 ? options.memoryMb : undefined,
      scratchDirs: options.scratchDirs,
      env,
      // ipykernel rewrites its connection file (remove, create) once its sockets are bound: it
      // gets a copy in its private /tmp, so the run directory can be sealed as soon as the sockets
      // exist. -P: nothing planted in the workspace (the cwd) is imported at start.
      command: ['/bin/sh', '-c', `cp ${RUN_MOUNT}/connection.json ${CONNECTION_COPY} && exec ${program}`],
    },
  });
}

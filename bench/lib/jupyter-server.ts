/**
 * Jupyter Server (Debian's python3-jupyter-server) as the bench's baseline: the same
 * ipykernel, reached through the server's REST API and its kernel websocket with
 * `@jupyterlab/services`, as JupyterLab itself does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ServerConnection } from '@jupyterlab/services';
import WebSocket from 'ws';
import { resolveDenoBinary } from '../../src/sandbox-service/kernels/deno-kernel.ts';
import { freePort, pidsWithArgument } from '../../test/support/processes.ts';
import { delay, killAll, scratchDir } from './processes.ts';

export const JUPYTER_PYTHON = '/usr/bin/python3';
/** The kernelspec name of Deno's kernel in the baseline's data directory. */
export const DENO_KERNEL = 'deno';

export interface JupyterServer {
  baseUrl: string;
  token: string;
  /** Settings for `@jupyterlab/services`, with `ws` as Node 20 has no global WebSocket. */
  settings: ServerConnection.ISettings;
  /** Stops the server and every kernel it started; safe to call twice. */
  close(): Promise<void>;
}

/** Throws with the exact install command when python3-jupyter-server is missing. */
export async function checkJupyterServerInstalled(): Promise<void> {
  const ok =
    existsSync(JUPYTER_PYTHON) &&
    (await new Promise<boolean>((resolve) => {
      const child = spawn(JUPYTER_PYTHON, ['-c', 'import jupyter_server, ipykernel'], { stdio: 'ignore' });
      child.on('error', () => resolve(false));
      child.on('exit', (code) => resolve(code === 0));
    }));
  if (!ok) {
    throw new Error(
      "The Jupyter Server baseline needs Debian's Jupyter Server and ipykernel for /usr/bin/python3. Install them with:\n" +
        '  apt-get install -y --no-install-recommends python3-jupyter-server python3-ipykernel',
    );
  }
}

export async function startJupyterServer(): Promise<JupyterServer> {
  await checkJupyterServerInstalled();
  // Everything the server and its kernels write (config, runtime, connection files)
  // stays in one directory of this run, which also marks their processes for cleanup.
  const dir = await mkdtemp(join(scratchDir(), 'bench-jupyter-'));
  const token = randomBytes(24).toString('hex');
  const port = await freePort();
  const env = {
    PATH: '/usr/bin:/bin',
    HOME: dir,
    LANG: 'C.UTF-8',
    JUPYTER_CONFIG_DIR: join(dir, 'config'),
    JUPYTER_DATA_DIR: join(dir, 'data'),
    JUPYTER_RUNTIME_DIR: join(dir, 'runtime'),
    IPYTHONDIR: join(dir, 'ipython'),
    MPLCONFIGDIR: join(dir, 'mpl'),
  };
  // Deno's own kernel, as `deno jupyter --install` would list it: the baseline for a JavaScript start.
  const denoSpec = join(env.JUPYTER_DATA_DIR, 'kernels', DENO_KERNEL);
  await mkdir(denoSpec, { recursive: true });
  await writeFile(
    join(denoSpec, 'kernel.json'),
    JSON.stringify({
      argv: [resolveDenoBinary(), 'jupyter', '--kernel', '--conn', '{connection_file}'],
      display_name: 'Deno',
      language: 'typescript',
    }),
  );
  const child = spawn(
    JUPYTER_PYTHON,
    [
      '-m',
      'jupyter_server',
      '--ServerApp.ip=127.0.0.1',
      `--ServerApp.port=${port}`,
      '--ServerApp.port_retries=0',
      `--ServerApp.token=${token}`,
      '--ServerApp.open_browser=False',
      `--ServerApp.root_dir=${dir}`,
      '--allow-root',
    ],
    { env, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (log = (log + chunk).slice(-8000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await stopProcess(child, exited);
    // Kernels run in sessions of their own; the server shuts them down on SIGTERM,
    // and any it left are found by the connection files under this run's directory.
    killAll(pidsWithArgument(dir));
    await rm(dir, { recursive: true, force: true });
  };

  const baseUrl = `http://127.0.0.1:${port}/`;
  try {
    await waitUntilReady(baseUrl, token, child, () => log);
  } catch (error) {
    await close();
    throw error;
  }
  const settings = ServerConnection.makeSettings({
    baseUrl,
    wsUrl: `ws://127.0.0.1:${port}/`,
    token,
    appendToken: true,
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
  });
  return { baseUrl, token, settings, close };
}

async function waitUntilReady(baseUrl: string, token: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`Jupyter Server exited before it was ready:\n${log()}`);
    }
    try {
      const response = await fetch(`${baseUrl}api/status`, { headers: { authorization: `token ${token}` } });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await delay(100);
  }
  throw new Error(`Jupyter Server was not ready within 30 s:\n${log()}`);
}

async function stopProcess(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const ended = await Promise.race([exited.then(() => true), delay(10_000).then(() => false)]);
  if (!ended) {
    child.kill('SIGKILL');
    await exited;
  }
}

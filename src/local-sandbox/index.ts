/**
 * The embedded sandbox service: E2B's code-interpreter HTTP API over Jupyter
 * kernels isolated with bubblewrap. `startSandbox` is what `npm start` and
 * `npm run sandbox` call; `createSandboxApp` is the bare Hono app.
 */
import { chmod, mkdtemp, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ContextRegistry, type KernelLaunchers } from './context-registry.ts';
import { defaultWorkspaceParent, parseSandboxOptions, type SandboxOptions, type SandboxOptionsInput } from './options.ts';
import { launchDenoKernel } from './deno-kernel.ts';
import { ContextLimits } from './limits/context-limits.ts';
import { launchPythonKernel } from './python-kernel.ts';
import { launchBashKernel } from './bash-kernel.ts';
import { launchRKernel } from './r-kernel.ts';
import { createSandboxApp } from './sandbox-app.ts';
import { buildSeccompFilters, type SeccompFilters } from './seccomp-filter.ts';
import { SessionUids, assertSearchableByOthers } from './session-uids.ts';
import { mountRunRoot } from './run-root.ts';
import { listenHttp } from '../serve.ts';

export { createSandboxApp } from './sandbox-app.ts';
export { ContextRegistry, DEFAULT_SESSION, WORKSPACE_MOUNT } from './context-registry.ts';
export { ContextLimits } from './limits/context-limits.ts';
export { SandboxOptions, SandboxOptionsError, parseSandboxEnv, parseSandboxOptions } from './options.ts';

export interface RunningSandbox {
  /** e.g. http://127.0.0.1:5001 */
  url: string;
  port: number;
  /** Where the session workspaces live on the host. */
  workspaceRoot: string;
  /** The host path of a session's workspace (a random name under workspaceRoot), if the session has one. */
  workspaceOf(session: string): Promise<string | undefined>;
  /** Stops serving, kills every kernel (and the pool's) and removes a default workspace root. */
  close(): Promise<void>;
}

export interface SandboxDeps {
  /** Kernel launchers by language; the default has every language this build supports. */
  launchers?: KernelLaunchers;
  /** Where the start line naming each limit's mechanism goes; default stderr. */
  log?: (line: string) => void;
  /** The limits' mechanisms; by default the best this host offers (ContextLimits.open). Closed with the sandbox. */
  limits?: ContextLimits;
}

/** Deno's one kernel serves both JavaScript and TypeScript. */
const DEFAULT_LAUNCHERS: KernelLaunchers = {
  python: launchPythonKernel,
  javascript: launchDenoKernel,
  typescript: launchDenoKernel,
  bash: launchBashKernel,
  r: launchRKernel,
};

export async function startSandbox(input: SandboxOptions | SandboxOptionsInput = {}, deps: SandboxDeps = {}): Promise<RunningSandbox> {
  const options = parseSandboxOptions(input);
  const ownRoot = options.workspaceRoot === undefined;
  const workspaceRoot = options.workspaceRoot ?? (await mkdtemp(defaultWorkspaceParent()));
  await mkdir(workspaceRoot, { recursive: true, mode: 0o700 });
  // A root server never runs kernels as root: each session's jail gets an unprivileged uid,
  // which must be able to pass through the workspace root (not list it).
  const uids = process.getuid?.() === 0 ? new SessionUids() : undefined;
  let seccomp: SeccompFilters;
  try {
    if (uids) {
      await chmod(workspaceRoot, 0o711);
      await assertSearchableByOthers(workspaceRoot);
    }
    seccomp = await buildSeccompFilters(workspaceRoot);
  } catch (error) {
    if (ownRoot) await rm(workspaceRoot, { recursive: true, force: true });
    throw error;
  }
  const runRoot = await mountRunRoot(join(workspaceRoot, 'run'), { asRoot: uids !== undefined }).catch(async (error) => {
    if (ownRoot) await rm(workspaceRoot, { recursive: true, force: true });
    throw error;
  });

  const limits = deps.limits ?? (await ContextLimits.open(options, join(workspaceRoot, 'disks')));
  (deps.log ?? ((line) => process.stderr.write(`${line}\n`)))(limits.describe());
  const registry = new ContextRegistry({
    options,
    workspaceRoot,
    launchers: deps.launchers ?? DEFAULT_LAUNCHERS,
    limits,
    jail: { uids, seccomp },
  });
  const app = createSandboxApp({ registry, options });

  /** Every kernel (and the pool's) stopped, then what held them. */
  const stopKernels = async () => {
    await registry.close();
    await limits.close();
    await runRoot.close();
  };
  const listener = await listenHttp(app, options.host, options.port).catch(async (error: Error) => {
    await stopKernels();
    if (ownRoot) await rm(workspaceRoot, { recursive: true, force: true });
    throw new Error(`the sandbox cannot listen on ${options.host}:${options.port}: ${error.message}`);
  });

  let closing: Promise<void> | undefined;
  return {
    url: options.host === '0.0.0.0' ? `http://127.0.0.1:${listener.port}` : listener.origin,
    port: listener.port,
    workspaceRoot,
    workspaceOf: (session) => registry.workspaceOf(session),
    close: () =>
      (closing ??= (async () => {
        // Executions still streaming end with their contexts: their clients hear why.
        await listener.close(stopKernels);
        if (ownRoot) await rm(workspaceRoot, { recursive: true, force: true });
      })()),
  };
}

/**
 * The sandbox service: E2B's code-interpreter HTTP API over Jupyter
 * kernels isolated with bubblewrap. `startSandbox` is what `npm start`, stdio,
 * `npm run sandbox` and the container image call, so all of them decide the jail
 * (SANDBOX_JAIL), apply the pool's rule and say so in the same start lines;
 * `createSandboxApp` is the bare Hono app.
 */
import type { LookupAddress } from 'node:dns';
import { chmod, mkdtemp, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ContextRegistry, type KernelLaunchers } from './contexts/context-registry.ts';
import { defaultWorkspaceParent, parseSandboxOptions, type SandboxOptions, type SandboxOptionsInput } from './settings.ts';
import { launchDenoKernel } from './kernels/deno-kernel.ts';
import { ContextLimits } from './limits/context-limits.ts';
import { launchPythonKernel } from './kernels/python-kernel.ts';
import { launchBashKernel } from './kernels/bash-kernel.ts';
import { launchRKernel } from './kernels/r-kernel.ts';
import { createSandboxApp } from './http/sandbox-app.ts';
import { buildSeccompFilters, type SeccompFilters } from './jail/seccomp-filter.ts';
import { SessionUids, assertSearchableByOthers } from './jail/session-uids.ts';
import { decideJail, JailSettingError, probeJailNetwork, probeNamespaces } from './jail/jail-mode.ts';
import { SandboxOptionsError } from './settings.ts';
import { mountRunRoot } from './roots/run-root.ts';
import { claimRoot, reclaimConfiguredRoot, reclaimDeadRoots, sweepRoot } from './roots/leftovers.ts';
import { listenHttp } from '../shared/listen-http.ts';
import { SandboxEgress } from './egress/sandbox-egress.ts';
import { createLogger } from '../shared/logger.ts';
import type { SandboxTelemetry } from './telemetry/types.ts';

export { createSandboxApp } from './http/sandbox-app.ts';
export { ContextRegistry, DEFAULT_SESSION, WORKSPACE_MOUNT } from './contexts/context-registry.ts';
export { ContextLimits } from './limits/context-limits.ts';
export {
  SandboxOptions,
  SandboxOptionsError,
  parseSandboxEnv,
  parseSandboxOptions,
  sandboxEnvName,
  sandboxOptionsFromEnv,
} from './settings.ts';

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
  /** Where the start lines (the jail, the limits' mechanisms, the address) go; default stderr, as JSON log lines. */
  log?: (line: string) => void;
  /** The limits' mechanisms; by default the best this host offers (ContextLimits.open). Closed with the sandbox. */
  limits?: ContextLimits;
  /** Spans and metrics (loadSandboxTelemetry), when an OTLP endpoint is set; shut down with the sandbox. */
  telemetry?: SandboxTelemetry;
  /** How the policy proxy resolves host names (all addresses); default dns.lookup. Tests count lookups with it. */
  resolve?: (host: string) => Promise<readonly LookupAddress[]>;
}

/** Deno's one kernel serves both JavaScript and TypeScript. */
const DEFAULT_LAUNCHERS: KernelLaunchers = {
  python: launchPythonKernel,
  javascript: launchDenoKernel,
  typescript: launchDenoKernel,
  bash: launchBashKernel,
  r: launchRKernel,
};

/**
 * How long close() lets the sandbox stop in order (executions told why, kernels stopped,
 * workspaces unmounted and removed) before it sweeps whatever is left; the sweep itself
 * takes well under a second, so a close ends within about GRACEFUL_CLOSE_MS + 1 s.
 */
export const GRACEFUL_CLOSE_MS = 6_000;

/**
 * Starts the sandbox service in this process: its HTTP API on `host:port` (port 0: a free
 * one, see `url`), the jail and limits the host allows, a pool of warm kernels. `input`
 * is the settings (parseSandboxOptions' shape; defaults for what is left out); close()
 * stops every kernel and removes what the service made.
 *
 * @example
 * const sandbox = await startSandbox({ port: 0, poolSize: 0 });
 * const response = await fetch(`${sandbox.url}/contexts`, {
 *   method: 'POST',
 *   headers: { 'content-type': 'application/json', 'x-ci-session-id': 'my-session' },
 *   body: JSON.stringify({ language: 'python' }),
 * });
 * console.log(await response.json());
 * await sandbox.close();
 */
export async function startSandbox(input: SandboxOptions | SandboxOptionsInput = {}, deps: SandboxDeps = {}): Promise<RunningSandbox> {
  const options = parseSandboxOptions(input);
  // JSON log lines like every other line on stderr (stdio clients parse it).
  const log = deps.log ?? ((line: string) => createLogger({ level: 'info' }).info(line));
  // Process-wide (jail-mode.ts): every spawn of this process follows it. Without the jail the pool
  // still works: a spare runs under its fresh space's own uid, which the session that takes it keeps.
  const jail = await decideJail(options.jail, probeNamespaces, undefined, options.allowNetwork ? probeJailNetwork : undefined).catch(
    (error: Error) => {
      throw error instanceof JailSettingError ? new SandboxOptionsError(error.message) : error;
    },
  );
  log(jail.line);
  const ownRoot = options.workspaceRoot === undefined;
  // What sandboxes killed outright (SIGKILL, the OOM killer) left: their mounts, loop devices, roots.
  const reclaimed = ownRoot ? await reclaimDeadRoots(defaultWorkspaceParent()) : [];
  const workspaceRoot = options.workspaceRoot ?? (await mkdtemp(defaultWorkspaceParent()));
  await mkdir(workspaceRoot, { recursive: true, mode: 0o700 });
  if (!ownRoot && (await reclaimConfiguredRoot(workspaceRoot))) reclaimed.push(workspaceRoot);
  if (reclaimed.length > 0) log(`sandbox: reclaimed what stopped sandboxes left in ${reclaimed.join(', ')}`);
  await claimRoot(workspaceRoot);
  // A root server never runs kernels as root: each session's jail gets an unprivileged uid,
  // which must be able to pass through the workspace root (not list it).
  const uids = process.getuid?.() === 0 ? new SessionUids({ first: options.uidBase }) : undefined;
  let seccomp: SeccompFilters;
  try {
    if (uids) {
      await chmod(workspaceRoot, 0o711);
      await assertSearchableByOthers(workspaceRoot);
    }
    seccomp = await buildSeccompFilters(workspaceRoot);
  } catch (error) {
    await sweepRoot(workspaceRoot, { removeRoot: ownRoot });
    throw error;
  }
  const runRoot = await mountRunRoot(join(workspaceRoot, 'run'), { asRoot: uids !== undefined }).catch(async (error) => {
    await sweepRoot(workspaceRoot, { removeRoot: ownRoot });
    throw error;
  });

  const limits = deps.limits ?? (await ContextLimits.open(options, join(workspaceRoot, 'disks')));
  log(limits.describe());
  const egress = await SandboxEgress.start({
    ceiling: options.egressAllow,
    privateHosts: options.egressPrivateHosts,
    headers: options.egressHeaders,
    enforced: jail.jailed,
    advisory: options.egressAdvisory,
    openNetwork: options.allowNetwork,
    resolve: deps.resolve,
  });
  log(egress.describe());
  const registry = new ContextRegistry({
    options,
    workspaceRoot,
    egress,
    launchers: deps.launchers ?? DEFAULT_LAUNCHERS,
    limits,
    jail: { uids, seccomp },
    onKernelTaken: deps.telemetry && ((hit) => deps.telemetry!.kernelTaken(hit)),
  });
  deps.telemetry?.observe(
    () => ({ contexts: registry.size, spareKernels: registry.spareKernels }),
    () => registry.memory(),
  );
  const app = createSandboxApp({ registry, options, telemetry: deps.telemetry });

  /** Every kernel (and the pool's) stopped, then what held them. */
  const stopKernels = async () => {
    await registry.close();
    egress.close();
    await limits.close();
    await runRoot.close();
  };
  const listener = await listenHttp(app, options.host, options.port).catch(async (error: Error) => {
    await stopKernels();
    await sweepRoot(workspaceRoot, { removeRoot: ownRoot });
    throw new Error(`the sandbox cannot listen on ${options.host}:${options.port}: ${error.message}`);
  });

  const url = options.host === '0.0.0.0' ? `http://127.0.0.1:${listener.port}` : listener.origin;
  const network = options.allowNetwork ? 'allowed' : jail.jailed ? 'cut off' : "the platform's to cut off (no namespace of its own)";
  log(`sandbox: listening on ${url} (session header ${options.sessionHeader}, network ${network})`);

  let closing: Promise<void> | undefined;
  return {
    url,
    port: listener.port,
    workspaceRoot,
    workspaceOf: (session) => registry.workspaceOf(session),
    close: () =>
      (closing ??= (async () => {
        // Executions still streaming end with their contexts: their clients hear why.
        const inOrder = listener.close(stopKernels).then(
          () => 'done' as const,
          (error: Error) => error,
        );
        const outcome = await Promise.race([inOrder, sleep(GRACEFUL_CLOSE_MS, 'late' as const, { ref: false })]);
        if (outcome !== 'done') {
          log(
            `sandbox: ${outcome === 'late' ? `not stopped in order within ${GRACEFUL_CLOSE_MS / 1000} s` : `stopping failed: ${outcome.message}`}; sweeping ${workspaceRoot}`,
          );
        }
        // Whatever the stop in order left (or all of it, if it hangs): mounts, loop devices, the root.
        const left = await sweepRoot(workspaceRoot, { removeRoot: ownRoot });
        if (left.length > 0) log(`sandbox: could not remove ${left.join(', ')}`);
        await deps.telemetry?.shutdown();
      })()),
  };
}

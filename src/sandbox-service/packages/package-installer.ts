/**
 * install_packages on the sandbox side: the manager runs in a jail of the session's own (as a
 * shell command of the session does: session-commands.ts, with its uid, seccomp filter, cgroup,
 * timeout and output cap; pip and npm run the packages' code), from the operator's index, into the
 * session's workspace (package-env.ts); then the running kernel is told, so the packages import
 * without a restart and its variables stay. A failed install answers the manager's own text.
 */
import {
  type InstallPackagesResult,
  type Language,
  MANAGER_OF_LANGUAGE,
  type PackageManager,
  packageSpecRefusal,
} from '../../protocol/sandbox-api.ts';
import { Refusal } from '../refusal.ts';
import type { SessionCommands } from '../contexts/session-commands.ts';
import { installedFromReport, pipInstallScript } from './pip-command.ts';
import { installedFromDeno, npmInstallScript } from './npm-command.ts';
import { denoBinaryArgs } from '../kernels/deno-kernel.ts';
import type { ContextEgress } from '../egress/context-egress.ts';
import { indexHosts, type PackageIndexes } from './package-env.ts';

/** What an install needs of its context. */
export interface InstallTarget {
  language: Language;
  /** Makes what was installed importable in the running kernel. */
  activatePackages(): Promise<void>;
  /** Its network policy: the installer goes out through it, the index's hosts allowed for the install only. */
  egress?: ContextEgress;
}

export interface PackageInstallerDeps {
  commands: SessionCommands;
  indexes: PackageIndexes;
  /** SANDBOX_MEMORY_MB: Deno's data limit (it cannot start under an address-space one). */
  memoryMb: number;
}

export interface InstallParams {
  /** Default: the context's language's. */
  manager?: PackageManager;
  packages: string[];
  timeoutMs: number;
}

export class PackageInstaller {
  readonly #deps: PackageInstallerDeps;

  constructor(deps: PackageInstallerDeps) {
    this.#deps = deps;
  }

  async install(session: string, context: InstallTarget, params: InstallParams): Promise<InstallPackagesResult> {
    const manager = MANAGER_OF_LANGUAGE[context.language];
    if (!manager) {
      throw new Refusal(
        'invalid_request',
        `a ${context.language} context has no package manager here: pip installs for Python contexts, npm for JavaScript and TypeScript ones`,
      );
    }
    if (params.manager !== undefined && manager !== params.manager) {
      throw new Refusal(
        'invalid_request',
        `this is a ${context.language} context: its packages come from ${manager}, not ${params.manager}`,
      );
    }
    const refusals = params.packages.map((spec) => packageSpecRefusal(manager, spec)).filter((refusal) => refusal !== undefined);
    if (refusals.length > 0) throw new Refusal('invalid_request', refusals.join('; '));
    const { egress } = context;
    const command =
      manager === 'pip'
        ? { command: pipInstallScript(params.packages) }
        : { command: npmInstallScript(params.packages, this.#deps.memoryMb), memoryMb: 0, extraArgs: denoBinaryArgs };
    const install = () => this.#deps.commands.run(session, { ...command, timeoutMs: params.timeoutMs, open: false, egress });
    const index = manager === 'pip' ? this.#deps.indexes.pipIndexUrl : this.#deps.indexes.npmRegistry;
    // The operator named the index: its hosts are allowed for this install whatever the context's policy, and only for it.
    const result = egress ? await egress.withAllowance(indexHosts(index), install) : await install();
    const ok = result.exitCode === 0 && result.error === undefined;
    if (ok) await context.activatePackages();
    return {
      manager,
      ok,
      installed: manager === 'pip' ? installedFromReport(result.stdout) : installedFromDeno(result.stderr),
      output: result.stderr,
      exit_code: result.exitCode,
      ...(result.error !== undefined ? { error: result.error } : {}),
    };
  }
}

/**
 * install_packages: packages into a context's session workspace from the operator's index (the
 * sandbox's SANDBOX_PIP_INDEX_URL / SANDBOX_NPM_REGISTRY), importable in the running context at
 * once; the kernel is never restarted, so its variables stay. The sandbox runs the manager in the
 * session's jail (src/sandbox-service/packages/). Specs are names and versions only: a spec the
 * manager would read as an option, a URL or a path is refused here and again by the sandbox.
 */
import { z } from 'zod';
import { InstalledPackage, MAX_PACKAGES, PACKAGE_MANAGERS, type PackageManager, packageSpecRefusal } from '../../protocol/sandbox-api.ts';
import { Refusal } from '../refusal.ts';
import { headAndTail } from '../run-tools/bounded-output.ts';
import { ContextIdParam } from './context-params.ts';
import { decodeContextId } from './tenant-contexts.ts';
import { failureOf, toolFailure, unknownContext } from './tool-failure.ts';
import { defineTool, toolResult } from './tool-definition.ts';

/** A spec no manager takes (the sandbox checks it against the context's own manager). */
function specRefusal(spec: string, manager: PackageManager | undefined): string | undefined {
  if (manager) return packageSpecRefusal(manager, spec);
  const refusals = PACKAGE_MANAGERS.map((each) => packageSpecRefusal(each, spec));
  return refusals.every((refusal) => refusal !== undefined) ? refusals[0] : undefined;
}

export const installPackages = defineTool({
  name: 'install_packages',
  title: 'Install packages into a context',
  description:
    "Installs packages into a context from the sandbox's package index: pip for Python contexts, npm for JavaScript and TypeScript. " +
    "They go into the context's workspace (every context of its session sees them, and they survive a restart) and import in the running context at once: " +
    'the kernel is not restarted, variables are kept. Give names with optional versions ("pandas", "requests>=2.31", "numpy==1.26.4"; npm: "lodash", "@types/node@^20"); ' +
    "options, URLs and paths are refused. Answers the installed names and versions, or the installer's own error text. " +
    "`%pip install` in run_code installs to the same place, under the context's network policy.",
  inputSchema: z
    .object({
      context_id: ContextIdParam,
      packages: z
        .array(z.string().trim().min(1).max(200))
        .min(1)
        .max(MAX_PACKAGES)
        .describe('Package names, each with an optional version constraint.'),
      manager: z
        .enum(PACKAGE_MANAGERS)
        .optional()
        .describe("pip (Python contexts) or npm (JavaScript/TypeScript contexts); default: the context's language's."),
    })
    .superRefine(({ packages, manager }, ctx) => {
      packages.forEach((spec, index) => {
        const refusal = specRefusal(spec, manager);
        if (refusal) ctx.addIssue({ code: 'custom', message: refusal, path: ['packages', index] });
      });
    }),
  outputSchema: z.object({
    success: z.boolean(),
    context_id: z.string(),
    manager: z.enum(PACKAGE_MANAGERS),
    installed: z.array(InstalledPackage).describe('What this call installed, dependencies included; empty when all was there already.'),
    output: z.string().describe("The installer's own output, bounded."),
    message: z.string(),
  }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  async handler({ context_id, packages, manager }, deps, call) {
    const address = decodeContextId(deps, context_id);
    if (!address) return unknownContext(context_id);
    let result: Awaited<ReturnType<typeof deps.sandbox.installPackages>>;
    try {
      result = await deps.sandbox.installPackages(
        address.session,
        address.sandboxContextId,
        { packages, ...(manager ? { manager } : {}), timeout: deps.settings.runTimeoutSeconds },
        call.signal,
      );
    } catch (error) {
      // The sandbox refuses a manager the context's language does not use, or a spec, with a 400 saying why.
      if (error instanceof Refusal && error.status === 400) return toolFailure('invalid_arguments', error.message, { status: 400 });
      return failureOf(error, context_id);
    }
    const output = headAndTail(result.output, deps.settings.maxTextBytes, "the rest of the installer's output was cut");
    if (!result.ok) {
      const why = result.error ? `: ${result.error}` : '';
      return toolFailure(
        'install_failed',
        `${result.manager} install failed (exit code ${result.exit_code}${why}); nothing new imports.\n${output}`,
      );
    }
    const listed = result.installed.map((pkg) => `${pkg.name} ${pkg.version}`).join(', ');
    const message = listed
      ? `installed ${listed}: importable in this context now (no restart, variables kept)`
      : `nothing new installed: ${packages.join(', ')} already satisfied`;
    return toolResult({ success: true, context_id, manager: result.manager, installed: result.installed, output, message }, message);
  },
});

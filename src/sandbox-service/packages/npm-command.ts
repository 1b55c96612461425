/**
 * The npm install a request becomes for a JavaScript or TypeScript context, whose kernel is Deno's:
 * `deno cache npm:<spec>…` (the sandbox's own Deno binary, bound in read-only: no npm in the image)
 * into the DENO_DIR the context's kernels use, in the workspace (package-env.ts), from
 * NPM_CONFIG_REGISTRY. The running kernel then imports `npm:<name>` from that cache, without the
 * network and without a restart (measured: no request reaches the registry). Deno prints what it
 * added (`+ npm:<name> <version>`); its output goes to stderr, the output an agent reads. V8 cannot
 * start under an address-space limit (deno-kernel.ts): RLIMIT_DATA bounds it as it bounds the kernel.
 */
import type { InstalledPackage } from '../../protocol/sandbox-api.ts';
import { DATA_OVERHEAD_MB, DENO_MOUNT } from '../kernels/deno-kernel.ts';
import { shellQuoted } from './pip-command.ts';
import { stripAnsi } from '../kernels/ansi.ts';

export function npmInstallScript(packages: string[], memoryMb: number): string {
  const specs = packages.map((spec) => shellQuoted(`npm:${spec}`)).join(' ');
  const limit = memoryMb > 0 ? `/usr/bin/prlimit --data=${(memoryMb + DATA_OVERHEAD_MB) * 1024 * 1024} -- ` : '';
  return `NO_COLOR=1 ${limit}${DENO_MOUNT} cache ${specs} 1>&2`;
}

/** The packages Deno says it added (`+ npm:name version`). */
export function installedFromDeno(output: string): InstalledPackage[] {
  const plain = stripAnsi(output);
  return [...plain.matchAll(/^\+ npm:(\S+) (\S+)\s*$/gm)].map(([, name, version]) => ({ name: name!, version: version! }));
}

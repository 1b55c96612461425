/**
 * Before a local sandbox service starts: are its Debian packages installed? The same list and check
 * `npm start` makes (infra/setup-sandbox.sh, which scripts/ensure-system.mjs runs), in its --check
 * mode: nothing is installed from here (a desktop client may run the installed package's bin), the
 * missing packages and the one command that installs them are said once, then the process stops.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// One level below the package's root both in the sources (src/) and in the installed package's bundle (dist/).
const SETUP_SCRIPT = fileURLToPath(new URL('../infra/setup-sandbox.sh', import.meta.url));

/** What is missing and how to install it (the script's words), or undefined when nothing is. */
export function missingSandboxPackages(): string | undefined {
  const result = spawnSync('bash', [SETUP_SCRIPT, '--check'], { encoding: 'utf8', timeout: 30_000 });
  if (result.error) return `cannot check the sandbox's Debian packages (bash ${SETUP_SCRIPT}): ${result.error.message}`;
  return result.status === 0 ? undefined : result.stderr.trim() || `bash ${SETUP_SCRIPT} --check exited with ${result.status}`;
}

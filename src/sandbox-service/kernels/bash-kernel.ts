/**
 * bash contexts: bash-kernel.py (a small kernel on ipykernel's base driving one persistent
 * bash) in the Python kernel's jail, limits and sockets. The script travels in an
 * environment variable the kernel removes before it starts bash.
 */
import { readFileSync } from 'node:fs';
import type { KernelLauncher } from './kernel-launch.ts';
import { CONNECTION_COPY, launchIpcKernel } from './python-kernel.ts';

const SCRIPT = readFileSync(new URL('./bash-kernel.py', import.meta.url), 'utf8');
const SCRIPT_VARIABLE = 'SANDBOX_BASH_KERNEL';

export const launchBashKernel: KernelLauncher = (options) =>
  launchIpcKernel(options, 'bash', 'bash', `/usr/bin/python3 -P -c "$${SCRIPT_VARIABLE}" -f ${CONNECTION_COPY}`, {
    [SCRIPT_VARIABLE]: SCRIPT,
  });

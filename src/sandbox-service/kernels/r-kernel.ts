/**
 * R contexts: Debian's IRkernel (`r-cran-irkernel`, installed by infra/setup-sandbox.sh) in
 * the Python kernel's jail, limits and `ipc` sockets (IRkernel names them as ipykernel does).
 */
import type { KernelLauncher } from './kernel-launch.ts';
import { CONNECTION_COPY, launchIpcKernel } from './python-kernel.ts';

export const launchRKernel: KernelLauncher = (options) =>
  launchIpcKernel(options, 'R', 'ir', `/usr/bin/R --no-save --no-restore --slave -e 'IRkernel::main()' --args ${CONNECTION_COPY}`);

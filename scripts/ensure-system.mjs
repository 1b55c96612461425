// Makes one command work on a fresh machine: runs infra/setup-sandbox.sh (Debian
// packages) and installs the Deno binary the JS/TS kernels use. Plain .mjs so it
// runs before any TypeScript tooling matters.
//
// Deno is installed into .tools/deno rather than listed as a dependency: the
// `deno` npm package's per-platform optional packages must all be in
// package-lock.json for `npm ci`, and registries that carry only some of them
// (as the one CI uses does) leave a lock that `npm ci` refuses, here and on the
// operator's machine that runs `s deploy`. The MCP function never needs Deno.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const run = (command, args) => spawnSync(command, args, { stdio: 'inherit', cwd: root }).status ?? 1;

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

// A fresh clone: `npm start` / `npm test` alone must be enough, so install the
// locked dependencies first when they are missing or older than the lock.
const installedLock = new URL('../node_modules/.package-lock.json', import.meta.url);
const lock = new URL('../package-lock.json', import.meta.url);
if (!existsSync(installedLock) || statSync(installedLock).mtimeMs < statSync(lock).mtimeMs) {
  console.error('Installing npm dependencies (npm ci) ...');
  const status = run(npm, ['ci', '--no-audit', '--no-fund', '--loglevel=error']);
  if (status !== 0) process.exit(status);
}

// `--bench`: also the Debian packages of the benchmarks' baseline (Jupyter Server) and Chromium (the view's bench), so `npm run bench` works on a fresh machine.
const benchPackages = process.argv.includes('--bench') ? ['python3-jupyter-server', 'chromium'] : [];
// `--test`: Debian's Chromium, for tests only (test/mcp-result-view.test.ts renders the MCP Apps view in it); the image never gets it.
const testPackages = process.argv.includes('--test') ? ['chromium'] : [];
const apt = run('bash', ['infra/setup-sandbox.sh', ...benchPackages, ...testPackages]);
if (apt !== 0) process.exit(apt);

const { sandboxTools } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const denoPackage = new URL('../.tools/deno/node_modules/deno/package.json', import.meta.url);
const installed = existsSync(denoPackage) ? JSON.parse(readFileSync(denoPackage, 'utf8')).version : undefined;
if (installed !== sandboxTools.deno) {
  console.error(`Installing Deno ${sandboxTools.deno} into .tools/deno (JavaScript/TypeScript kernels) ...`);
  const status = run(npm, [
    'install',
    '--prefix',
    '.tools/deno',
    '--no-audit',
    '--no-fund',
    '--no-save',
    '--loglevel=error',
    `deno@${sandboxTools.deno}`,
  ]);
  if (status !== 0) process.exit(status);
}

// Makes one command work on a fresh machine: installs the locked npm dependencies
// (Deno, which the JS/TS kernels run, among them: the optional dependency `deno`,
// whose platform package npm picks) and runs infra/setup-sandbox.sh (Debian packages).
// Plain .mjs so it runs before any TypeScript tooling matters. The installed package's
// bin makes the same check without installing anything (src/system-check.ts).
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
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
// `--test`: Debian's Chromium, for tests only (test/mcp-server/apps/result-view.test.ts renders the MCP Apps view in it); the image never gets it.
const testPackages = process.argv.includes('--test') ? ['chromium'] : [];
const apt = run('bash', ['infra/setup-sandbox.sh', ...benchPackages, ...testPackages]);
if (apt !== 0) process.exit(apt);

// Runs infra/setup-sandbox.sh before start/test so that one command works on a
// fresh Debian machine. Plain .mjs so it runs before TypeScript tooling matters.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../infra/setup-sandbox.sh', import.meta.url));
const r = spawnSync('bash', [script], { stdio: 'inherit' });
process.exit(r.status ?? 1);

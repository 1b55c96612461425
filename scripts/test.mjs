// The test runner behind `npm test` and `npm run test:fast`. Plain .mjs, like ensure-system.mjs.
//
//   npm test                 what CI runs: the system check, biome ci, tsc, then every *.test.ts under
//                            test/ one file at a time; the output ends with node's own closing lines
//                            (`# tests N`, `# pass N`, `# fail N`), which CI counts.
//   npm test -- jail files   only the test files whose path holds one of the words (no lint, no tsc);
//                            run `npm run setup` once first on a fresh machine
//   npm run test:fast        the in-process tier, the files named *.fast.test.ts: no kernel, no sandbox
//                            process; well under a minute. A file is named so only while that holds.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

const run = (command, args) => spawnSync(command, args, { stdio: 'inherit', cwd: root }).status ?? 1;
const must = (command, args) => {
  const status = run(command, args);
  if (status !== 0) process.exit(status);
};

// Tests live under test/ in folders that mirror src/ (test/image/ runs apart, in `npm run test:image`).
const all = readdirSync(new URL('../test', import.meta.url), { recursive: true })
  .map((name) => name.split('\\').join('/'))
  .filter((name) => name.endsWith('.test.ts') && !name.startsWith('image/'))
  .sort();
const args = process.argv.slice(2);
const fast = args.includes('--fast');
const patterns = args.filter((arg) => arg !== '--fast').map((arg) => arg.replace(/^test\//, ''));

let files = all;
if (fast) files = files.filter((name) => name.endsWith('.fast.test.ts'));
if (patterns.length > 0) files = files.filter((name) => patterns.some((pattern) => name.includes(pattern)));
if (files.length === 0) {
  console.error(`no test file of test/ matches ${patterns.join(', ')}; the files are:\n  ${all.join('\n  ')}`);
  process.exit(1);
}

if (!fast && patterns.length === 0) {
  must(process.execPath, ['scripts/ensure-system.mjs', '--test']);
  must(join(root, 'node_modules/.bin/biome'), ['ci', '.']);
  must(join(root, 'node_modules/.bin/tsc'), ['--noEmit']);
}
const status = run(process.execPath, [
  '--import',
  'tsx',
  '--test',
  '--test-concurrency=1',
  '--test-timeout=120000',
  ...files.map((name) => `test/${name}`),
]);
process.exit(status);

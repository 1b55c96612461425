// The test runner behind `npm test` and `npm run test:fast`. Plain .mjs, like ensure-system.mjs
// (which may first have to install node_modules, tsx among them).
//
//   npm test                 what CI runs: the system check, biome ci, tsc, then every *.test.ts under
//                            test/ (TEST_CONCURRENCY files at a time, default 2), then the few that
//                            need the machine alone (ALONE) one after another; the output ends with
//                            node's own closing lines (`# tests N`, `# pass N`, `# fail N`) for all
//                            of them, which CI counts.
//   npm test -- jail files   only the test files whose path holds one of the words (no lint, no tsc);
//                            run `npm run setup` once first on a fresh machine
//   npm run test:fast        the in-process tier, the files named *.fast.test.ts: no kernel, no sandbox
//                            process; well under a minute. A file is named so only while that holds.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { run } from 'node:test';
import { spec, tap } from 'node:test/reporters';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

const runCommand = (command, args) => spawnSync(command, args, { stdio: 'inherit', cwd: root }).status ?? 1;
const must = (command, args) => {
  const status = runCommand(command, args);
  if (status !== 0) process.exit(status);
};

/**
 * Test files at a time: TEST_CONCURRENCY, default 2. Two at a time take the suite from about
 * 1,200 s to 810–920 s on 2 cores; what first broke side by side (a shared dist/, E2B's port, a
 * kernel scan that took another sandbox's spare for a leak, a jail killed as it started) is
 * mended. TEST_CONCURRENCY=1 runs one at a time.
 */
const CONCURRENCY = Number(process.env.TEST_CONCURRENCY ?? 2);
if (!Number.isInteger(CONCURRENCY) || CONCURRENCY < 1) {
  console.error(`TEST_CONCURRENCY must be a whole number of test files at a time, 1 or more (got "${process.env.TEST_CONCURRENCY}")`);
  process.exit(1);
}
/**
 * Files that need the machine to themselves, run one after another once the others are done,
 * each for a reason another file beside it would break:
 */
const ALONE = new Set([
  // Times tenant bob's p99, idle and under attack: a file beside it moves both.
  'e2e/fair-sharing.test.ts',
  // A busy tenant's share of its CPU on an idle host (0.64 of 1 CPU with a file beside it).
  'sandbox-service/limits/limits.test.ts',
  // A kernel's 500,000 empty messages must be read as fast as they come to meet the event cap:
  // beside another file the kernel reached its memory limit first (killed, 137) in one CI run.
  'sandbox-service/limits/shared-memory.test.ts',
]);
/**
 * The longest files (61–100 s beside another), started first: in name order
 * shared/oversized-body.test.ts came last and ran on alone for most of its 100 s.
 */
const LONGEST = [
  'shared/oversized-body.test.ts',
  'deploy/package-install.test.ts',
  'mcp-server/run-tools/long-runs.test.ts',
  'sandbox-service/packages/install-packages.test.ts',
];
/** A test file that runs longer is stopped and fails (a hung file must not hold CI). */
const FILE_TIMEOUT_MS = 300_000;

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
const missing = [...ALONE, ...LONGEST].filter((name) => !all.includes(name));
if (missing.length > 0) {
  console.error(`scripts/test.mjs: ALONE or LONGEST names files that are not under test/: ${missing.join(', ')}`);
  process.exit(1);
}
const longestFirst = (names) => [...LONGEST.filter((name) => names.includes(name)), ...names.filter((name) => !LONGEST.includes(name))];

if (!fast && patterns.length === 0) {
  must(process.execPath, ['scripts/ensure-system.mjs', '--test']);
  must(join(root, 'node_modules/.bin/biome'), ['ci', '.']);
  must(join(root, 'node_modules/.bin/tsc'), ['--noEmit']);
}

// node:test starts each test file with this process's execArgv (Node 20's run() takes no execArgv
// of its own); tsx can only be loaded once the system check has installed it.
if (!process.execArgv.includes('tsx')) process.execArgv.push('--import', 'tsx');

const paths = (names) => names.map((name) => join(root, 'test', name));
const groups = [
  { files: paths(longestFirst(files.filter((name) => !ALONE.has(name)))), concurrency: CONCURRENCY },
  { files: paths(files.filter((name) => ALONE.has(name))), concurrency: 1 },
];

/** The closing lines node's runner prints, in its order. */
const SUMMARY = ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo', 'duration_ms'];
const SUMMARY_LINE = new RegExp(`^(${SUMMARY.join('|')}) ([\\d.]+)$`);
const totals = Object.fromEntries(SUMMARY.map((name) => [name, 0]));

/**
 * The events of one node:test run per group, as if of one run: node's runner takes one
 * concurrency for all its files, and the closing lines are counted once, for every file. Each
 * run's own plan and closing lines are held back, its top-level tests numbered on from the last
 * run's, and one plan and one set of closing lines end it all.
 */
async function* eventsOfAll() {
  const started = performance.now();
  let numbered = 0;
  for (const group of groups) {
    if (group.files.length === 0) continue;
    const offset = numbered;
    for await (const event of run({ files: group.files, concurrency: group.concurrency, timeout: FILE_TIMEOUT_MS })) {
      const { type, data } = event;
      if (data?.nesting === 0) {
        if (type === 'test:plan') {
          numbered += data.count;
          continue;
        }
        const summary = type === 'test:diagnostic' ? SUMMARY_LINE.exec(data.message) : null;
        if (summary) {
          totals[summary[1]] += Number(summary[2]);
          continue;
        }
        if (typeof data.testNumber === 'number') {
          yield { type, data: { ...data, testNumber: data.testNumber + offset } };
          continue;
        }
      }
      yield event;
    }
  }
  totals.duration_ms = performance.now() - started;
  yield { type: 'test:plan', data: { nesting: 0, count: numbered } };
  for (const name of SUMMARY) yield { type: 'test:diagnostic', data: { nesting: 0, message: `${name} ${totals[name]}` } };
}

// The reporter node's own `--test` picks: spec on a terminal, TAP otherwise (CI).
const reporter = process.stdout.isTTY ? new spec() : tap;
const output = Readable.from(eventsOfAll()).compose(reporter);
output.pipe(process.stdout);
output.on('end', () => {
  process.exitCode = totals.fail > 0 || totals.cancelled > 0 ? 1 : 0;
});

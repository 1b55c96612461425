#!/usr/bin/env node
/**
 * `npm run release -- <version>`: one version for everything that ships, made ready to publish.
 *
 *  1. bump: package.json and package-lock.json take the version (the MCP server reports it,
 *     src/shared/package-version.ts; the images are tagged with it); CHANGELOG.md's Unreleased
 *     entries become the version's section, dated today, under a new empty Unreleased.
 *  2. build: the bundle and both images (STEPS.build; CI's deploy workflow runs the same image build).
 *  3. check: the whole suite (npm test: lint, types, every test, the packed package's among them),
 *     then the image tests against the images just built (STEPS.check).
 *  4. prints the commands that publish (git tag, npm publish, the image pushes, s deploy) and runs
 *     none of them.
 *
 * Running it again with the same version skips the bump and builds and checks again.
 * Options: --tests <word,...>: only the test files whose names hold a word (to try this command
 * itself; a release runs them all, and says so when it did not). --only <stage,...> (build, check):
 * just those stages, no version, no bump (CI's deploy workflow builds with `--only build`).
 * Env: ACR_REGISTRY, REGION, ACR_NAMESPACE: shown in the push commands (as infra/ci/deploy.yml uses them).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IMAGES, imageEngine } from './image.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

const imageTests = () =>
  readdirSync(join(root, 'test/image'))
    .filter((name) => name.endsWith('.test.ts'))
    .map((name) => `test/image/${name}`);

/** The commands of each stage: [command, args]. `tests` limits the check to some files (see --tests). */
export const STEPS = {
  build: [
    [npm, ['run', 'build']],
    [npm, ['run', 'image', '--', 'sandbox', 'server']],
  ],
  check: (tests = []) => [
    [npm, ['test', ...(tests.length > 0 ? ['--', ...tests] : [])]],
    [process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=600000', ...imageTests()]],
  ],
};

const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/;

function must(command, args) {
  console.error(`release: ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit', cwd: root });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`})`);
}

/** CHANGELOG.md: the Unreleased entries become `version`'s section. Throws when there are none. */
export function changelogFor(text, version, date) {
  const heading = /^## \[Unreleased\]\s*$/m.exec(text);
  if (!heading) throw new Error('CHANGELOG.md has no "## [Unreleased]" section');
  const rest = text.slice(heading.index + heading[0].length);
  const next = /^## \[/m.exec(rest);
  const entries = (next ? rest.slice(0, next.index) : rest).trim();
  if (entries === '') throw new Error(`CHANGELOG.md says nothing under Unreleased: write what ${version} changes first`);
  const before = text.slice(0, heading.index);
  const after = next ? rest.slice(next.index) : '';
  return `${before}## [Unreleased]\n\n## [${version}] - ${date}\n\n${entries}\n${after ? `\n${after}` : ''}`;
}

function bump(version) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const changelogPath = join(root, 'CHANGELOG.md');
  const changelog = readFileSync(changelogPath, 'utf8');
  if (pkg.version !== version) must(npm, ['version', version, '--no-git-tag-version']);
  if (!changelog.includes(`## [${version}]`)) {
    writeFileSync(changelogPath, changelogFor(changelog, version, new Date().toISOString().slice(0, 10)));
  }
}

function publishCommands(version) {
  const engine = (() => {
    try {
      return imageEngine({ install: false }).engine;
    } catch {
      return 'podman';
    }
  })();
  const registry = process.env.ACR_REGISTRY || (process.env.REGION ? `registry.${process.env.REGION}.aliyuncs.com` : '<registry>');
  const namespace = process.env.ACR_NAMESPACE || 'fc-code-interpreter';
  const pushed = (name) => `${registry}/${namespace}/${name.split('/').pop()}:${version}`;
  const lines = [`git commit -am 'Release ${version}' && git tag v${version} && git push --follow-tags`, 'npm publish'];
  for (const { name } of Object.values(IMAGES)) {
    lines.push(`${engine} tag ${name}:${version} ${pushed(name)}`, `${engine} push ${pushed(name)}`);
  }
  lines.push(`SANDBOX_IMAGE=${pushed(IMAGES.sandbox.name)} npx s deploy -y   # with s.yaml's variables set (docs/deploy-fc.md)`);
  return lines;
}

/** The command line: `<version>`, `--tests word,...`, `--only stage,...`. */
export function parseArgs(args) {
  const listAfter = (flag) => {
    const at = args.indexOf(flag);
    return at >= 0 ? (args[at + 1] ?? '').split(',').filter(Boolean) : [];
  };
  const flagValues = new Set(['--tests', '--only'].map((flag) => args.indexOf(flag) + 1).filter((i) => i > 0));
  const positional = args.filter((arg, i) => !arg.startsWith('--') && !flagValues.has(i));
  const only = listAfter('--only');
  const unknown = only.filter((stage) => !Object.hasOwn(STEPS, stage));
  if (unknown.length > 0) throw new Error(`no stage called ${unknown.join(', ')}: the stages are ${Object.keys(STEPS).join(', ')}`);
  const version = positional[0];
  if (only.length === 0 && (!version || !SEMVER.test(version)))
    throw new Error(
      `usage: npm run release -- <version> [--tests word,...] | --only build,check (a version like 0.2.0; got ${version ?? 'none'})`,
    );
  return { version, tests: listAfter('--tests'), only };
}

async function main() {
  const { version, tests, only } = parseArgs(process.argv.slice(2));
  // --only: those stages as they are, no bump and nothing printed (CI's deploy workflow builds with `--only build`).
  if (only.length > 0) {
    for (const stage of only)
      for (const [command, commandArgs] of stage === 'check' ? STEPS.check(tests) : STEPS[stage]) must(command, commandArgs);
    return;
  }
  bump(version);
  for (const [command, commandArgs] of STEPS.build) must(command, commandArgs);
  for (const [command, commandArgs] of STEPS.check(tests)) must(command, commandArgs);
  console.log(
    `\nRelease ${version}: bundle and images built, checks passed${tests.length > 0 ? ` (ONLY the tests matching ${tests.join(', ')}: not a full check)` : ''}.`,
  );
  console.log('To publish, run (nothing below has run):\n');
  for (const line of publishCommands(version)) console.log(`  ${line}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error) => {
    console.error(`release: ${error.message}`);
    process.exit(1);
  });
}

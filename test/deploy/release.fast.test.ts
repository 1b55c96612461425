/**
 * `npm run release -- <version>` (scripts/release.mjs), the parts that need no build: the
 * changelog's Unreleased section becoming the version's (Keep a Changelog form), and the command
 * line. The whole command (bump, bundle, both images, checks, publish commands) is what
 * docs/development.md#releases describes; its build stage is CI's (test/deploy/invoke-ci-workflow.test.ts).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../support/mcp-harness.ts';

const release = (await import(pathToFileURL(join(ROOT, 'scripts/release.mjs')).href)) as {
  changelogFor(text: string, version: string, date: string): string;
  parseArgs(args: string[]): { version?: string; tests: string[]; only: string[] };
};

const CHANGELOG = `# Changelog

Intro.

## [Unreleased]

### Added

- A thing.

## [0.1.0] - 2026-12-06

### Added

- The first things.
`;

describe('the changelog', () => {
  test("the Unreleased entries become the version's section, dated, under an empty Unreleased", () => {
    assert.equal(
      release.changelogFor(CHANGELOG, '0.2.0', '2026-12-24'),
      `# Changelog

Intro.

## [Unreleased]

## [0.2.0] - 2026-12-24

### Added

- A thing.

## [0.1.0] - 2026-12-06

### Added

- The first things.
`,
    );
  });

  test('a release with nothing under Unreleased is refused, saying why', () => {
    const empty = release.changelogFor(CHANGELOG, '0.2.0', '2026-12-24');
    assert.throws(() => release.changelogFor(empty, '0.3.0', '2026-12-25'), /nothing under Unreleased: write what 0\.3\.0 changes first/);
    assert.throws(() => release.changelogFor('# Changelog\n', '0.3.0', '2026-12-25'), /no "## \[Unreleased\]" section/);
  });

  test("the project's CHANGELOG.md is in that form, its latest version package.json's or newer", async () => {
    const text = await readFile(join(ROOT, 'CHANGELOG.md'), 'utf8');
    const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.match(text, /^## \[Unreleased\]$/m);
    assert.equal(/^## \[(\d[^\]]*)\] - \d{4}-\d{2}-\d{2}$/m.exec(text)?.[1], version, 'the newest section is the current version');
  });
});

describe('the command line', () => {
  test('a version, and --tests to try the command on some test files only', () => {
    assert.deepEqual(release.parseArgs(['0.2.0']), { version: '0.2.0', tests: [], only: [] });
    assert.deepEqual(release.parseArgs(['0.2.0', '--tests', 'package,layout']), {
      version: '0.2.0',
      tests: ['package', 'layout'],
      only: [],
    });
    assert.deepEqual(release.parseArgs(['--only', 'build']), { version: undefined, tests: [], only: ['build'] });
  });

  test('a missing or malformed version, or an unknown stage, is refused with the usage', () => {
    for (const args of [[], ['0.2'], ['v0.2.0'], ['--tests', 'x']])
      assert.throws(() => release.parseArgs(args), /^Error: usage: npm run release -- <version>/);
    assert.throws(() => release.parseArgs(['--only', 'publish']), /no stage called publish: the stages are build, check/);
  });
});

/**
 * Each program's settings are declared once in code (the MCP server's `McpEnv` in
 * src/mcp-server/config.ts, its fields naming their CLI flags; the sandbox service's SandboxEnv,
 * its fields naming the option each sets, and SandboxOptions), and each program has one complete table of its variables in the docs
 * (docs/configuration.md, docs/sandbox.md). This holds the tables to the code: every variable
 * and no other, each CLI flag, and each default that is a plain value.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import { CLI_FLAGS, DEFAULT_SANDBOX_URL, McpEnv } from '../../src/mcp-server/config.ts';
import { SandboxEnv } from '../../src/protocol/service-env.ts';
import { DEFAULT_SESSION_HEADER } from '../../src/protocol/sandbox-api.ts';
import { parseSandboxOptions, SANDBOX_ENV_OPTIONS } from '../../src/sandbox-service/settings.ts';

/** Variables an image build reads (scripts/image.mjs), listed in the sandbox's table too. */
const BUILD_VARIABLES = ['BASE_IMAGE', 'IMAGE_ENGINE', 'DEBIAN_MIRROR'];

interface Row {
  variable: string;
  flag?: string;
  default: string;
}

/** The rows of the first table under `heading` whose first column is a variable. */
function tableRows(doc: string, heading: string, withFlag: boolean): Row[] {
  const section = doc.split(`\n${heading}\n`)[1]?.split(/\n## /)[0];
  assert.ok(section, `the section ${heading}`);
  const rows: Row[] = [];
  for (const line of section.split('\n')) {
    const cells = line.split(' | ').map((cell) => cell.replace(/^\| |\s*\|$/g, '').trim());
    const variable = cells[0]?.match(/^`([A-Z][A-Z0-9_]+)`$/)?.[1];
    if (!variable) continue;
    rows.push(withFlag ? { variable, flag: cells[1], default: cells[2]! } : { variable, default: cells[1]! });
  }
  return rows;
}

/** The plain value a default cell starts with (`300`, `true`, `x-ci-session-id`), or undefined (—, words, another variable). */
function literalOf(cell: string): string | undefined {
  const literal = cell.match(/^`([^`]+)`(?:\s|$)/)?.[1];
  return literal === undefined || literal in McpEnv.shape || literal in SandboxEnv.shape ? undefined : literal;
}

/** A default as the table writes it, or undefined where it shows none (nothing, an empty list or map). */
function shown(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) return value.length === 0 ? undefined : value.join(',');
  if (typeof value === 'object') return Object.keys(value).length === 0 ? undefined : JSON.stringify(value);
  return String(value);
}

/** Holds a row's default cell to `expected` (undefined: the table shows none); 1 when a default was compared, else 0. */
function holdsDefault(row: Row, expected: string | undefined): number {
  if (expected === undefined) {
    assert.equal(literalOf(row.default), undefined, `${row.variable} has no default, the table says ${row.default}`);
    return 0;
  }
  assert.equal(literalOf(row.default), expected, `${row.variable}'s default`);
  return 1;
}

test('docs/configuration.md: one row per variable the MCP server reads, with its flag and default', () => {
  const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  const rows = tableRows(doc, '## Variables', true);
  // The sandbox service's own variables are read only to pass them on (npm start); two the MCP side uses itself.
  const own = Object.keys(McpEnv.shape).filter(
    (name) => !(name in SandboxEnv.shape) || name === 'SANDBOX_API_TOKEN' || name === 'SANDBOX_SESSION_HEADER',
  );
  assert.deepEqual(rows.map((row) => row.variable).sort(), own.sort(), 'the table lists every variable and no other');

  const flagOf = new Map(Object.entries(CLI_FLAGS).map(([flag, variable]) => [variable as string, `\`--${flag}\``]));
  for (const row of rows) assert.equal(row.flag, flagOf.get(row.variable) ?? '—', `${row.variable}'s flag`);

  // What an empty environment gives each variable; some defaults are applied after the schema.
  const empty = McpEnv.parse({}) as Record<string, unknown>;
  const later: Record<string, string> = {
    SANDBOX_URL: DEFAULT_SANDBOX_URL,
    SANDBOX_SESSION_HEADER: DEFAULT_SESSION_HEADER,
    LOG_LEVEL: 'info',
  };
  let checked = 0;
  for (const row of rows) checked += holdsDefault(row, shown(empty[row.variable]) ?? later[row.variable]);
  assert.ok(checked >= 25, `${checked} defaults checked`);
});

test('docs/sandbox.md: one row per variable the sandbox service reads (and the image build), with its default', () => {
  const doc = readFileSync(new URL('../../docs/sandbox.md', import.meta.url), 'utf8');
  const rows = tableRows(doc, '## Configuration', false);
  const names = Object.keys(SandboxEnv.shape).filter((name) => name !== 'SANDBOX_KERNEL_MEMORY_MB'); // SANDBOX_MEMORY_MB's old name, in its row
  assert.deepEqual(
    rows.map((row) => row.variable).sort(),
    [...names, ...BUILD_VARIABLES].sort(),
    'the table lists every variable and no other',
  );

  // Every variable sets an option, and each option's default is the table's.
  assert.deepEqual(
    SANDBOX_ENV_OPTIONS.map(([name]) => name).sort(),
    Object.keys(SandboxEnv.shape).sort(),
    'SANDBOX_ENV_OPTIONS maps every variable',
  );
  const defaults = parseSandboxOptions({}) as Record<string, unknown>;
  const optionOf = new Map(SANDBOX_ENV_OPTIONS.map(([name, option]) => [name as string, option as string]));
  let checked = 0;
  for (const row of rows) {
    const option = optionOf.get(row.variable);
    if (!option) continue; // a build variable
    if (row.variable === 'SANDBOX_TENANT_CPUS') {
      // The one default that depends on the host: described in words, held to its formula.
      assert.match(row.default, /^half the host's CPUs, at least `1`$/, `${row.variable}'s default`);
      assert.equal(defaults[option], Math.max(1, Math.floor(availableParallelism() / 2)), `${row.variable}'s default`);
      continue;
    }
    checked += holdsDefault(row, shown(defaults[option]));
  }
  assert.ok(checked >= 20, `${checked} defaults checked`);
});

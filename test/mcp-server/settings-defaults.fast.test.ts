/**
 * A default of the MCP server's settings is said once. Where McpEnv (src/mcp-server/config.ts)
 * declares it, the `Config` field only names its variable: it repeats neither the default nor
 * the CLI flag, which could drift. Where loadConfig applies a default after the schema (a
 * variable McpEnv leaves unset), the field says it as `@default`, and the words are held to what
 * loadConfig gives an empty environment.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { loadConfig, McpEnv } from '../../src/mcp-server/config.ts';

const SOURCE = readFileSync(new URL('../../src/mcp-server/config.ts', import.meta.url), 'utf8');

interface Field {
  /** The field's doc comment. */
  comment: string;
  /** The text after `@default`, when the comment has one. */
  default?: string;
}

/** Each field of `interface Config` with its doc comment. */
function configFields(source: string): Map<string, Field> {
  const body = source.slice(source.indexOf('export interface Config {'), source.indexOf('export interface OAuthConfig'));
  const fields = new Map<string, Field>();
  for (const m of body.matchAll(/\/\*\*([\s\S]*?)\*\/\s*\n\s*(\w+)\??:/g)) {
    const comment = m[1]!.replace(/\n\s*\*/g, ' ');
    const stated = comment.match(/@default (.*?)\s*$/)?.[1];
    fields.set(m[2]!, stated === undefined ? { comment } : { comment, default: stated });
  }
  return fields;
}

/** A default's value when the words give one: a literal, or a constant followed by its value in parentheses. */
function defaultValueOf(text: string): { value: unknown } | undefined {
  const literal =
    text.match(/^(-?\d+|'[^']*'|\[\]|true|false|undefined)(?:\s|$)/)?.[1] ?? text.match(/^[A-Z_]+ \((-?\d+|'[^']*')[,)]/)?.[1];
  if (literal === undefined) return undefined;
  if (literal === 'undefined') return { value: undefined };
  return { value: JSON.parse(literal.replace(/^'(.*)'$/, '"$1"')) };
}

/** The variable a field is read from: the first of McpEnv's variables its comment names. */
function variableOf(comment: string): string | undefined {
  return [...comment.matchAll(/\b[A-Z][A-Z0-9_]+\b/g)].map((m) => m[0]).find((name) => name in McpEnv.shape);
}

/** What the rules find wrong with the fields of `source`, one line each. */
function drifting(source: string): string[] {
  const config = loadConfig({}) as unknown as Record<string, unknown>;
  const schemaDefaults = McpEnv.parse({}) as Record<string, unknown>;
  const fields = configFields(source);
  const wrong: string[] = [];
  for (const field of Object.keys(config)) if (!fields.has(field)) wrong.push(`${field}: no doc comment`);
  for (const [name, field] of fields) {
    const variable = variableOf(field.comment);
    if (!variable) wrong.push(`${name}: names no variable of McpEnv`);
    if (/\(--[a-z]/.test(field.comment)) wrong.push(`${name}: names a CLI flag (McpEnv's field does)`);
    const declared = variable !== undefined && schemaDefaults[variable] !== undefined;
    if (declared && field.default !== undefined) wrong.push(`${name}: repeats ${variable}'s default, which McpEnv declares`);
    if (!declared && field.default === undefined) wrong.push(`${name}: its default is applied after McpEnv, and not said`);
    const stated = field.default === undefined ? undefined : defaultValueOf(field.default);
    if (stated && !isDeepEqual(config[name], stated.value)) {
      wrong.push(`${name}: @default ${field.default}, but an empty environment gives ${JSON.stringify(config[name])}`);
    }
  }
  return wrong;
}

function isDeepEqual(a: unknown, b: unknown): boolean {
  try {
    assert.deepEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

test("each Config field names its variable; a default is said only where loadConfig applies it, and then it is loadConfig's", () => {
  assert.deepEqual(drifting(SOURCE), []);
  // Not vacuous: most fields take their default from McpEnv, several after it.
  const fields = [...configFields(SOURCE).values()];
  assert.ok(fields.length >= 30, `${fields.length} fields read`);
  assert.ok(fields.filter((field) => field.default !== undefined).length >= 8, 'defaults applied after the schema are read');
});

test('the rules catch a default repeated, a flag named, a stated default that is wrong, one left unsaid', () => {
  const field = (comment: string, name: string) => `  /** ${comment} */\n  ${name}: number;\n`;
  const withField = (replaced: string, by: string) => {
    assert.ok(SOURCE.includes(replaced), replaced);
    return SOURCE.replace(replaced, by);
  };
  assert.deepEqual(drifting(withField(field('MCP_PORT; 0 = any free port.', 'port'), field('MCP_PORT. @default 3000', 'port'))), [
    "port: repeats MCP_PORT's default, which McpEnv declares",
  ]);
  assert.deepEqual(drifting(withField(field('MCP_PORT; 0 = any free port.', 'port'), field('MCP_PORT (--port).', 'port'))), [
    "port: names a CLI flag (McpEnv's field does)",
  ]);
  const sandboxUrl = "  /** SANDBOX_URL or its default. @default DEFAULT_SANDBOX_URL ('http://localhost:5001') */\n";
  assert.deepEqual(
    drifting(withField(sandboxUrl, "  /** SANDBOX_URL or its default. @default DEFAULT_SANDBOX_URL ('http://localhost:1') */\n")),
    [`sandboxUrl: @default DEFAULT_SANDBOX_URL ('http://localhost:1'), but an empty environment gives "http://localhost:5001"`],
  );
  assert.deepEqual(drifting(withField(sandboxUrl, '  /** SANDBOX_URL or its default. */\n')), [
    'sandboxUrl: its default is applied after McpEnv, and not said',
  ]);
});

/**
 * The MCP server's settings say their defaults beside each field (`@default` in
 * src/mcp-server/config.ts); this holds those words to what loadConfig gives an empty
 * environment, so the documentation cannot drift from the code.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { loadConfig } from '../../src/mcp-server/config.ts';

const SOURCE = readFileSync(new URL('../../src/mcp-server/config.ts', import.meta.url), 'utf8');

/** Each field of `interface Config` with the text of its @default. */
function documentedDefaults(): Map<string, string> {
  const body = SOURCE.slice(SOURCE.indexOf('export interface Config {'), SOURCE.indexOf('export interface OAuthConfig'));
  const fields = new Map<string, string>();
  for (const m of body.matchAll(/@default ([^\n]*?)\s*(?:\*\/)?\n(?:\s*\*\/\n)?\s*(\w+)\??:/g)) fields.set(m[2]!, m[1]!);
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

test('every field of the MCP settings documents its default, and the default is what an empty environment gives', () => {
  const documented = documentedDefaults();
  const config = loadConfig({}) as unknown as Record<string, unknown>;
  const undocumented = Object.keys(config).filter((field) => !documented.has(field));
  assert.deepEqual(undocumented, [], 'fields without @default');
  let checked = 0;
  for (const [field, text] of documented) {
    const expected = defaultValueOf(text);
    if (!expected) continue;
    assert.deepEqual(config[field], expected.value, `${field}: @default ${text}`);
    checked++;
  }
  // Not vacuous: most defaults are plain values.
  assert.ok(checked >= 20, `${checked} defaults checked`);
});

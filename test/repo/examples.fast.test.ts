/**
 * `@example`s the type checker sees: every `*.examples.ts` file under src/ holds examples
 * as regions (`// #region name` … `// #endregion`) of code tsc compiles, and the doc
 * comment of the function `name` beside it must show that region word for word after
 * its `@example` tag. An example that no longer compiles fails tsc; one edited only in
 * the comment fails here.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const ROOT = resolve(import.meta.dirname, '../..');
const SRC = join(ROOT, 'src');

function dedent(lines: string[]): string {
  const indent = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => l.match(/^ */)![0].length));
  return lines
    .map((l) => l.slice(indent))
    .join('\n')
    .trim();
}

/** The regions of an examples file, by name. */
function regionsOf(text: string): Map<string, string> {
  const regions = new Map<string, string>();
  for (const m of text.matchAll(/\/\/ #region (\w+)\n([\s\S]*?)\n\s*\/\/ #endregion/g)) regions.set(m[1]!, dedent(m[2]!.split('\n')));
  return regions;
}

/** The text after `@example` in the doc comment right above `function name`, or undefined. */
function exampleOf(source: string, name: string): string | undefined {
  const at = source.search(new RegExp(`\\n(?:export )?(?:async )?function ${name}\\b`));
  if (at === -1) return undefined;
  const comment = source.slice(0, at).match(/\/\*\*((?:(?!\/\*\*)[\s\S])*?)\*\/\s*$/)?.[1];
  const example = comment?.split('@example')[1];
  if (example === undefined) return undefined;
  return dedent(
    example
      .split('\n')
      .map((line) => line.replace(/^\s*\* ?/, ''))
      .filter((line, i, all) => !(line.trim() === '' && (i === 0 || i === all.length - 1))),
  );
}

const examplesFiles = readdirSync(SRC, { recursive: true })
  .map(String)
  .filter((path) => path.endsWith('.examples.ts'))
  .map((path) => join(SRC, path));

test('each example region is what the doc comment beside it shows', () => {
  let checked = 0;
  for (const file of examplesFiles) {
    const siblings = readdirSync(dirname(file))
      .filter((name) => name.endsWith('.ts') && !name.endsWith('.examples.ts'))
      .map((name) => readFileSync(join(dirname(file), name), 'utf8'));
    for (const [name, region] of regionsOf(readFileSync(file, 'utf8'))) {
      const shown = siblings.map((source) => exampleOf(source, name)).find((example) => example !== undefined);
      assert.equal(shown, region, `${relative(ROOT, file)}: the @example of ${name}`);
      checked++;
    }
  }
  assert.ok(checked >= 2, `${checked} examples checked`);
});

test('the check tells a drifted example from a synced one', () => {
  const region = regionsOf('  // #region f\n  f(1);\n  // #endregion\n').get('f');
  assert.equal(exampleOf('/**\n * Does f.\n *\n * @example\n * f(1);\n */\nexport function f(n: number) {}\n', 'f'), region);
  assert.notEqual(exampleOf('/**\n * Does f.\n *\n * @example\n * f("one");\n */\nexport function f(n: number) {}\n', 'f'), region);
});

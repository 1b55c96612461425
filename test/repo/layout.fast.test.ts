/**
 * The layout's rule, read from the code: two programs and one contract. The MCP server
 * (src/mcp-server) and the sandbox service (src/sandbox-service) each import only
 * themselves, the wire contract (src/protocol) and the few shared helpers (src/shared);
 * the contract imports only the shared helpers, and those import nothing of ours. Only
 * the entry points above them (src/*.ts, handlers/) may reach into both, as npm start
 * does to start the sandbox service beside the MCP server.
 *
 * Imports are read as text (static, `export … from` and dynamic `import()`), relative
 * ones resolved against the importing file; a package is checked by its name.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const ROOT = resolve(import.meta.dirname, '../..');
const SRC = join(ROOT, 'src');

/** Each place under src/, and the places of ours it may import from (besides itself). */
const MAY_IMPORT: Record<string, readonly string[]> = {
  shared: [],
  protocol: ['shared'],
  'mcp-server': ['protocol', 'shared'],
  'sandbox-service': ['protocol', 'shared'],
};

/** Packages that belong to one program only. */
const PACKAGES_OF: Record<string, RegExp> = {
  'mcp-server': /^(@modelcontextprotocol\/|@alicloud\/|jose$|ky$)/,
  'sandbox-service': /^(zeromq$|busboy$)/,
};

const IMPORT = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

interface Import {
  file: string;
  specifier: string;
}

/** Every import of a file, comments left out (a header may mention another place). */
function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
  return [...text.matchAll(IMPORT)].map((m) => ({ file, specifier: (m[1] ?? m[2])! }));
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.(ts|mts|js|mjs)$/.test(entry.name))
    .map((entry) => join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name));
}

/** The place a file of src/ belongs to: its first folder, or undefined for an entry point at the top. */
function placeOf(file: string): string | undefined {
  const parts = relative(SRC, file).split('/');
  return parts.length > 1 ? parts[0] : undefined;
}

/** What `imports` break of the rule, one line each. */
function forbiddenArrows(imports: readonly Import[]): string[] {
  const wrong: string[] = [];
  for (const { file, specifier } of imports) {
    const from = placeOf(file);
    if (from === undefined) continue;
    const shown = `${relative(ROOT, file)} -> ${specifier}`;
    if (specifier.startsWith('.')) {
      const target = resolve(dirname(file), specifier);
      // The package's manifest is data, not code of either program (src/shared reads its version).
      if (target === join(ROOT, 'package.json')) continue;
      if (!target.startsWith(`${SRC}/`)) {
        wrong.push(`${shown} (outside src/)`);
        continue;
      }
      const to = placeOf(target);
      if (to === from) continue;
      if (to === undefined || !MAY_IMPORT[from]!.includes(to))
        wrong.push(`${shown} (${from} may import only ${[from, ...MAY_IMPORT[from]!].join(', ')})`);
    } else {
      for (const [owner, pattern] of Object.entries(PACKAGES_OF)) {
        if (owner !== from && pattern.test(specifier)) wrong.push(`${shown} (a package of ${owner} only)`);
      }
    }
  }
  return wrong;
}

const files = sourceFiles(SRC);
const imports = files.flatMap(importsOf);

test('every folder of src/ is one of the known places', () => {
  const places = new Set(files.map(placeOf).filter((place) => place !== undefined));
  assert.deepEqual([...places].sort(), Object.keys(MAY_IMPORT).sort());
});

test('each program imports only itself, the protocol and the shared helpers', () => {
  assert.deepEqual(forbiddenArrows(imports), []);
});

test('the check sees the imports it judges, and refuses an arrow across', () => {
  const seen = (from: string, to: string) =>
    imports.some((i) => i.file === join(SRC, from) && resolve(dirname(i.file), i.specifier).startsWith(join(SRC, to)));
  // Not vacuous: real arrows to the contract from both programs are read...
  assert.ok(seen('sandbox-service/index.ts', 'protocol') || seen('sandbox-service/http/sandbox-app.ts', 'protocol'));
  assert.ok(seen('mcp-server/sandbox-client/client.ts', 'protocol'));
  // ...and an arrow from one program into the other, or a package of the other, is caught.
  const stray = [
    { file: join(SRC, 'sandbox-service/index.ts'), specifier: '../mcp-server/config.ts' },
    { file: join(SRC, 'mcp-server/app.ts'), specifier: '../sandbox-service/index.ts' },
    { file: join(SRC, 'protocol/sandbox-api.ts'), specifier: '../mcp-server/config.ts' },
    { file: join(SRC, 'shared/logger.ts'), specifier: '../protocol/sandbox-api.ts' },
    { file: join(SRC, 'sandbox-service/index.ts'), specifier: '@modelcontextprotocol/server' },
    { file: join(SRC, 'mcp-server/app.ts'), specifier: 'zeromq' },
  ];
  assert.equal(forbiddenArrows(stray).length, stray.length);
});

/** The import cycles among the files of src/, each as the files it runs through. */
function cyclesOf(imports: readonly Import[]): string[][] {
  const edges = new Map<string, string[]>();
  for (const { file, specifier } of imports) {
    if (!specifier.startsWith('.')) continue;
    const target = resolve(dirname(file), specifier);
    edges.set(file, [...(edges.get(file) ?? []), target]);
  }
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    path.push(file);
    for (const next of edges.get(file) ?? []) {
      if (state.get(next) === 'open') cycles.push(path.slice(path.indexOf(next)).map((f) => relative(ROOT, f)));
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const file of edges.keys()) if (!state.has(file)) visit(file);
  return cycles;
}

test('no file of src/ imports itself back through others', () => {
  assert.deepEqual(cyclesOf(imports), []);
  // Not vacuous: a cycle is found when there is one.
  const a = join(SRC, 'shared/a.ts');
  const b = join(SRC, 'shared/b.ts');
  assert.deepEqual(
    cyclesOf([
      { file: a, specifier: './b.ts' },
      { file: b, specifier: './a.ts' },
    ]),
    [['src/shared/a.ts', 'src/shared/b.ts']],
  );
});

/**
 * A comment in src/ says its why itself. One that points at "issue 23", "finding 4" or "the seed"
 * sends the reader to something the repository does not hold (a tracker, a review, the code the
 * project started from), so the reason is lost with it.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const ROOT = resolve(import.meta.dirname, '../..');
const SRC = join(ROOT, 'src');

/** What a reader cannot follow: a numbered issue or finding, and the project's starting code. */
// A random generator's seed ("the seed of", "the seed value") is another matter.
const UNFOLLOWABLE = /\b(?:issues?|findings?)\s+#?\d+|\bthe seed\b(?!\s*(?:\(|of\b|value|stream))/gi;

/** Where comments start, by the file's language. */
const SLASH_COMMENTS = /\/\*[\s\S]*?\*\/|\/\/.*$/gm;
const HASH_COMMENTS = /#.*$/gm;
const COMMENTS_OF: Record<string, RegExp> = {
  '.ts': SLASH_COMMENTS,
  '.mts': SLASH_COMMENTS,
  '.js': SLASH_COMMENTS,
  '.mjs': SLASH_COMMENTS,
  '.py': HASH_COMMENTS,
  '.sh': HASH_COMMENTS,
  '.r': HASH_COMMENTS,
};

/** Each comment of a file's text that points where a reader cannot follow, with its line. */
function unfollowable(text: string, comments: RegExp): { line: number; text: string }[] {
  const found: { line: number; text: string }[] = [];
  for (const m of text.matchAll(comments)) {
    for (const hit of m[0].matchAll(UNFOLLOWABLE)) {
      found.push({ line: text.slice(0, m.index + hit.index).split('\n').length, text: hit[0] });
    }
  }
  return found;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && extname(entry.name).toLowerCase() in COMMENTS_OF)
    .map((entry) => join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name));
}

test('no comment in src/ points at an issue, a finding or the seed', () => {
  const files = sourceFiles(SRC);
  assert.ok(files.length > 100, `${files.length} files read`);
  assert.ok(
    files.some((file) => file.endsWith('.py')),
    'the Python files are read too',
  );
  const wrong = files.flatMap((file) =>
    unfollowable(readFileSync(file, 'utf8'), COMMENTS_OF[extname(file).toLowerCase()]!).map(
      (hit) => `${relative(ROOT, file)}:${hit.line}: "${hit.text}"`,
    ),
  );
  assert.deepEqual(wrong, [], 'say the reason itself instead');
});

test('the check finds such comments, in either kind of comment, and leaves code and other words alone', () => {
  const ts = [
    '// kept open until the client reads it (issue 23)',
    '/**',
    ' * As Finding #4 showed, the pool must be warm.',
    ' */',
    'const seed = 1; // the seed of the generator below is fixed for tests; kept as the seed did',
    "const issue = issues[2]; // zod's issue 2 of the list",
    "const url = 'https://example.com/issues';",
    '// issuer and issuance are other words; so are 12 issues',
  ].join('\n');
  assert.deepEqual(
    unfollowable(ts, SLASH_COMMENTS).map((hit) => [hit.line, hit.text]),
    [
      [1, 'issue 23'],
      [3, 'Finding #4'],
      [5, 'the seed'],
      [6, 'issue 2'],
    ],
  );
  const py = ['x = 1  # see issues 2 and 11', 'print("issue 5 in a string is code")'].join('\n');
  assert.deepEqual(
    unfollowable(py, HASH_COMMENTS).map((hit) => [hit.line, hit.text]),
    [[1, 'issues 2']],
  );
});

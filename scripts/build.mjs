#!/usr/bin/env node
/**
 * `npm run build`: bundles the entry points with esbuild into dist/ (ESM, sourcemaps,
 * Node 20.11).
 *
 * - dist/fc.js: the Function Compute handler, self-contained (no node_modules beside
 *   it). Code splitting keeps what only some requests need, the FC SDK, in chunks
 *   loaded on first use. The sandbox service (zeromq, deno) must not be in it: the
 *   build fails if it is.
 * - dist/stdio.js: the package's bin. It runs from an installed package, so its npm
 *   dependencies stay external (zeromq is native and cannot be bundled anyway). The files
 *   the sandbox service reads beside its modules (*.py) are copied beside it.
 *
 * Prints the size of every file and of what FC loads at start.
 */
import { build } from 'esbuild';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { copyBundleAssets } from './build/bundle-assets.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist');
/**
 * Where a build writes first: beside dist/ (the same depth, so the source maps' relative paths
 * hold), one per build. Its files then go into dist/ one rename each, so whatever reads dist/
 * meanwhile (a test that runs the bundle or packs it while another builds it, with `npm test`
 * running files side by side) finds every file whole, the last build's or this one's.
 */
const staging = join(root, `.dist-${process.pid}`);

// Bundled CommonJS dependencies call require() for Node's built-ins; an ESM bundle has none.
const requireShim = "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);";

/**
 * src/shared/package-version.ts imports package.json for its version: the bundles get that field
 * alone, not the whole manifest (its dependency lists are of no use at run time).
 */
const manifestVersionOnly = {
  name: 'manifest-version-only',
  setup(b) {
    const manifest = join(root, 'package.json');
    b.onLoad({ filter: /package\.json$/ }, (args) =>
      args.path === manifest
        ? { contents: JSON.stringify({ version: JSON.parse(readFileSync(manifest, 'utf8')).version }), loader: 'json' }
        : undefined,
    );
  },
};

const common = {
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  target: 'node20.11',
  format: 'esm',
  sourcemap: true,
  legalComments: 'linked',
  logLevel: 'warning',
  metafile: true,
  plugins: [manifestVersionOnly],
};

/**
 * zod re-exports all of its ~50 message locales (`z.locales`), about 200 KiB minified
 * that every cold start would parse; nothing here uses any but English, zod's default.
 * In the FC bundle, zod's locale index exports English only.
 */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /node_modules\/zod\/v4\//.test(args.importer)
        ? { path: join(dirname(args.importer), '../locales/index.js'), namespace: 'zod-locales' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
      contents: 'export { default as en } from "./en.js";\n',
      resolveDir: dirname(args.path),
      loader: 'js',
    }));
  },
};

/** Inputs that may never reach the FC bundle: the sandbox service and its native/binary dependencies. */
const FORBIDDEN_IN_FC = [/(^|\/)src\/sandbox-service\//, /node_modules\/zeromq\//, /node_modules\/deno\//, /node_modules\/@deno\//];

async function main() {
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  try {
    const fc = await buildInto(staging);
    await moveInto(staging, outdir);
    await report(fc.metafile);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Both bundles and what they read beside them, into `outdir`; the FC build's result. */
async function buildInto(outdir) {
  const fc = await build({
    ...common,
    entryPoints: { fc: 'handlers/fc.ts' },
    outdir,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    minify: true,
    banner: { js: requireShim },
    define: { 'process.env.NODE_ENV': '"production"' },
    // Ajv stays out of what loads at start (see the file for why that is safe).
    alias: { '@modelcontextprotocol/server/_shims': './scripts/build/sdk-shims-without-ajv.mjs' },
    plugins: [manifestVersionOnly, zodEnglishOnly],
  });
  const forbidden = Object.keys(fc.metafile.inputs).filter((input) => FORBIDDEN_IN_FC.some((re) => re.test(input)));
  if (forbidden.length > 0) {
    throw new Error(`the FC bundle must not contain the sandbox service, but it pulls in:\n  ${forbidden.slice(0, 10).join('\n  ')}`);
  }

  const stdio = await build({
    ...common,
    entryPoints: { stdio: 'handlers/stdio.ts' },
    outdir,
    packages: 'external',
  });
  // The sandbox service reads its Python helpers beside its modules, i.e. beside the bundle.
  if (copyBundleAssets(stdio.metafile, root, outdir).length === 0)
    throw new Error('found no file the sandbox service reads beside its modules (file-worker.py at least)');

  // dist/ is what FC runs from (/code/dist): .js files there are ES modules whatever surrounds them.
  await writeFile(join(outdir, 'package.json'), `${JSON.stringify({ type: 'module', private: true }, null, 2)}\n`);
  return fc;
}

/**
 * Every file of `from` into `to` by a rename (atomic: a reader gets the old file or the new one,
 * never a part), then away with what `to` held that `from` did not (an older build's chunks).
 */
async function moveInto(from, to) {
  const files = (await listFiles(from)).map((file) => relative(from, file));
  for (const file of files) {
    await mkdir(dirname(join(to, file)), { recursive: true });
    await rename(join(from, file), join(to, file));
  }
  const built = new Set(files);
  for (const file of await listFiles(to)) if (!built.has(relative(to, file))) await rm(file, { force: true });
}

async function listFiles(dir) {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath ?? e.path, e.name));
}

function kib(bytes) {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

async function report(fcMetafile) {
  const rows = [];
  for (const file of (await listFiles(outdir)).sort()) {
    const size = (await stat(file)).size;
    const gz = file.endsWith('.js') ? gzipSync(readFileSync(file)).length : undefined;
    rows.push({ file: relative(root, file), size, gz });
  }
  // What node reads at start: the entry and the chunks it imports statically (the metafile names
  // them where they were built, in staging).
  const built = relative(root, staging);
  const outputs = fcMetafile.outputs;
  const atStart = new Set();
  const visit = (path) => {
    if (atStart.has(path)) return;
    atStart.add(path);
    for (const imp of outputs[path]?.imports ?? []) if (imp.kind === 'import-statement') visit(imp.path);
  };
  visit(`${built}/fc.js`);
  for (const path of [...atStart]) if (path.startsWith(`${built}/`)) atStart.add(`dist/${path.slice(built.length + 1)}`);
  const jsOf = (filter) => rows.filter((r) => r.file.endsWith('.js') && filter(r.file));
  const sum = (list, key) => list.reduce((n, r) => n + (r[key] ?? 0), 0);
  const fcAll = jsOf((f) => f === 'dist/fc.js' || f.startsWith('dist/chunks/'));
  const fcStart = jsOf((f) => atStart.has(f));

  const width = Math.max(...rows.map((r) => r.file.length), 28);
  console.log(`${'file'.padEnd(width)}  ${'size'.padStart(11)}  ${'gzip'.padStart(11)}`);
  for (const r of rows) console.log(`${r.file.padEnd(width)}  ${kib(r.size).padStart(11)}  ${(r.gz ? kib(r.gz) : '').padStart(11)}`);
  console.log(
    `${'FC bundle, loaded at start'.padEnd(width)}  ${kib(sum(fcStart, 'size')).padStart(11)}  ${kib(sum(fcStart, 'gz')).padStart(11)}`,
  );
  console.log(`${'FC bundle, all chunks'.padEnd(width)}  ${kib(sum(fcAll, 'size')).padStart(11)}  ${kib(sum(fcAll, 'gz')).padStart(11)}`);
}

main().catch((error) => {
  console.error(`build failed: ${error.message}`);
  process.exit(1);
});

/**
 * Files a module reads beside itself, `new URL('./name', import.meta.url)` (file-worker.py, the
 * bash kernel, the Python prelude): in a bundle that URL points beside the bundle, so the file must
 * go there. Found in the bundled sources (not listed anywhere), so a new one cannot be forgotten.
 * Used by every bundle that carries the sandbox: dist/stdio.js (scripts/build.mjs) and the
 * sandbox image's (scripts/image.mjs).
 */
import { copyFileSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const ASSET_URL = /new URL\(\s*['"]\.\/([^'"/]+)['"]\s*,\s*import\.meta\.url\s*\)/g;

/**
 * Copies every asset of the bundle's own sources (esbuild's metafile, paths relative to `root`)
 * into `outDir`; returns their names. Two sources reading the same name from different files is
 * an error: beside the bundle there is room for one.
 */
export function copyBundleAssets(metafile, root, outDir) {
  const copied = new Map();
  for (const input of Object.keys(metafile.inputs)) {
    // Skips the stand-in modules of plugins (`namespace:path`) and the packages.
    if (input.includes(':') || input.includes('node_modules/') || !/\.[cm]?[jt]s$/.test(input)) continue;
    for (const [, name] of readFileSync(join(root, input), 'utf8').matchAll(ASSET_URL)) {
      const source = join(root, dirname(input), name);
      if (copied.has(name) && copied.get(name) !== source)
        throw new Error(`two bundled files read ./${name}: ${copied.get(name)} and ${source}`);
      copyFileSync(source, join(outDir, name));
      copied.set(name, source);
    }
  }
  return [...copied.keys()].sort();
}

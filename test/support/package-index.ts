/**
 * Package upstreams on loopback, for install_packages' tests (no public index is reachable from
 * here): a PEP 503 simple index serving wheels built on this machine (`pip wheel` of a tiny
 * package the test writes, offline), and an npm registry serving a packument and a tarball. Both
 * count the requests they get; close() stops them.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Upstream {
  /** The index's URL as SANDBOX_PIP_INDEX_URL or SANDBOX_NPM_REGISTRY takes it. */
  url: string;
  host: string;
  /** Every request's path, in order. */
  requests: string[];
  close(): Promise<void>;
}

export interface TinyPackage {
  name: string;
  version: string;
  /** Files of the package's module (Python: under the import name; npm: under package/), by relative path. */
  files: Record<string, string>;
}

/**
 * Builds a wheel of a pure-Python package into `wheelDir` with Debian's pip, offline
 * (no build isolation: setuptools from Debian). Returns the wheel's file name.
 */
export async function buildWheel(wheelDir: string, pkg: TinyPackage): Promise<string> {
  const source = await mkdtemp(join(tmpdir(), 'fc-wheel-src-'));
  try {
    const module = pkg.name.replaceAll('-', '_');
    await writeFile(
      join(source, 'pyproject.toml'),
      `[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n` +
        `[project]\nname = "${pkg.name}"\nversion = "${pkg.version}"\n[tool.setuptools]\npackages = ["${module}"]\n`,
    );
    await mkdir(join(source, module));
    for (const [path, text] of Object.entries(pkg.files)) await writeFile(join(source, module, path), text);
    await mkdir(wheelDir, { recursive: true });
    const before = new Set(await readdir(wheelDir));
    await run('/usr/bin/python3', ['-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '--no-index', '-q', '-w', wheelDir, source], {
      env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1' },
      timeout: 120_000,
    });
    const built = (await readdir(wheelDir)).find((name) => !before.has(name) && name.endsWith('.whl'));
    if (!built) throw new Error(`pip wheel made no wheel of ${pkg.name}`);
    return built;
  } finally {
    await rm(source, { recursive: true, force: true });
  }
}

/** PEP 503's normalized name. */
function normalized(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

/** A wheel file name's project (its first part). */
function projectOf(wheel: string): string {
  return normalized(wheel.split('-')[0]!);
}

/**
 * Serves `wheelDir` as a PEP 503 simple index at `<url>` (= http://127.0.0.1:<port>/simple).
 * `fileHost`: the host name the file links name (default: relative links, the index's own host),
 * e.g. "localhost" for files on a host the index's allowance does not cover.
 */
export async function servePipIndex(wheelDir: string, { fileHost }: { fileHost?: string } = {}): Promise<Upstream> {
  const requests: string[] = [];
  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    requests.push(path);
    const wheels = (await readdir(wheelDir)).filter((name) => name.endsWith('.whl'));
    const html = (body: string) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<!DOCTYPE html><html><body>${body}</body></html>`);
    };
    if (path === '/simple/') return html([...new Set(wheels.map(projectOf))].map((p) => `<a href="/simple/${p}/">${p}</a>`).join('\n'));
    const project = /^\/simple\/([^/]+)\/$/.exec(path)?.[1];
    if (project) {
      const files = wheels.filter((wheel) => projectOf(wheel) === normalized(project));
      if (files.length === 0) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      const links = await Promise.all(
        files.map(async (file) => {
          const digest = createHash('sha256')
            .update(await readFile(join(wheelDir, file)))
            .digest('hex');
          const base = fileHost ? `http://${fileHost}:${(server.address() as { port: number }).port}` : '';
          return `<a href="${base}/files/${file}#sha256=${digest}">${file}</a>`;
        }),
      );
      return html(links.join('\n'));
    }
    const file = /^\/files\/([^/]+\.whl)$/.exec(path)?.[1];
    if (file && wheels.includes(file)) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(await readFile(join(wheelDir, file)));
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  });
  return listen(server, '/simple', requests);
}

/**
 * An npm registry holding `packages` (one version each): GET /<name> answers the packument,
 * GET /-/<file>.tgz the tarball (package/package.json and the files).
 */
export async function serveNpmRegistry(packages: TinyPackage[]): Promise<Upstream> {
  const work = await mkdtemp(join(tmpdir(), 'fc-npm-registry-'));
  const tarballs = new Map<string, Buffer>();
  const manifests = new Map<string, Record<string, unknown>>();
  for (const pkg of packages) {
    const dir = join(work, pkg.name.replaceAll('/', '+'), 'package');
    await mkdir(dir, { recursive: true });
    const manifest = { name: pkg.name, version: pkg.version, main: 'index.js', type: 'module' };
    await writeFile(join(dir, 'package.json'), JSON.stringify(manifest));
    for (const [path, text] of Object.entries(pkg.files)) await writeFile(join(dir, path), text);
    const file = `${pkg.name.replaceAll('/', '-').replace(/^@/, '')}-${pkg.version}.tgz`;
    const tgz = join(work, file);
    await run('tar', ['-czf', tgz, '-C', join(dir, '..'), 'package']);
    tarballs.set(file, await readFile(tgz));
    manifests.set(pkg.name, { ...manifest, file });
  }
  await rm(work, { recursive: true, force: true });
  const requests: string[] = [];
  let base = '';
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    requests.push(path);
    const tarball = /^\/-\/([^/]+\.tgz)$/.exec(path)?.[1];
    if (tarball && tarballs.has(tarball)) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(tarballs.get(tarball));
      return;
    }
    const manifest = manifests.get(decodeURIComponent(path.slice(1)));
    if (!manifest) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Not found"}');
      return;
    }
    const { file, ...version } = manifest as { file: string; name: string; version: string };
    const bytes = tarballs.get(file)!;
    const packument = {
      name: version.name,
      'dist-tags': { latest: version.version },
      versions: {
        [version.version]: {
          ...version,
          dist: {
            tarball: `${base}/-/${file}`,
            shasum: createHash('sha1').update(bytes).digest('hex'),
            integrity: `sha512-${createHash('sha512').update(bytes).digest('base64')}`,
          },
        },
      },
    };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(packument));
  });
  const upstream = await listen(server, '/', requests);
  base = upstream.url.replace(/\/$/, '');
  return upstream;
}

async function listen(server: Server, path: string, requests: string[]): Promise<Upstream> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}${path}`,
    host: '127.0.0.1',
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Renders s.yaml offline with the Serverless Devs CLI (`s preview -o json`), which
 * resolves vars and ${env(...)} without reaching the cloud. Used by the deploy tests.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

export interface RenderedResource {
  component: string;
  actions?: Record<string, { run: string; path: string }[]>;
  // fc3 props are checked against the schema; tests read them freely.
  props: Record<string, any>;
}

export interface RenderedYaml {
  edition: string;
  name: string;
  vars: Record<string, unknown>;
  resources: Record<string, RenderedResource>;
}

/**
 * Only the given env (plus PATH) reaches `s`, so the host's variables cannot leak into
 * the result. Without a HOME in it, `s` gets a fresh one (for its config and logs),
 * removed afterwards.
 */
export async function renderServerlessYaml(root: string, env: Record<string, string>): Promise<RenderedYaml> {
  if (env.HOME === undefined) {
    const home = await mkdtemp(join(tmpdir(), 's-home-'));
    // Its update check, if it has never made one, is a detached daemon that outlives the test
    // (and writes into the home after it is removed): `s` is told it has just made one.
    await mkdir(join(home, '.s/config'), { recursive: true });
    await writeFile(join(home, '.s/config/update-notifier.json'), JSON.stringify({ lastUpdateCheck: Date.now() }));
    try {
      return await renderServerlessYaml(root, { ...env, HOME: home });
    } finally {
      // `s` may still be finishing its own log files under .s when it has answered.
      await rm(home, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    }
  }
  const s = join(root, 'node_modules/.bin/s');
  try {
    const { stdout } = await promisify(execFile)(s, ['preview', '-o', 'json'], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      timeout: 60_000,
    });
    // `s` prints a warning line (running as root) before the JSON on stdout.
    const start = stdout.indexOf('\n{');
    return JSON.parse(stdout.startsWith('{') ? stdout : stdout.slice(start + 1)) as RenderedYaml;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`s preview failed: ${(e.stdout ?? '') + (e.stderr ?? '') || e.message}`);
  }
}

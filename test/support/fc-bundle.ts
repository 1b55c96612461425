/**
 * The MCP function's code as Function Compute runs it, for the FC tests and
 * bench/cold-start.ts: a code folder holding what `s deploy` uploads (the tree with
 * .fcignore applied: the built dist/), and dist/fc.js started there the way FC starts
 * it: s.yaml's customRuntimeConfig command and args, cwd the code folder, a bare PATH,
 * FC's variables and the function's own environment, nothing of ours.
 */
import { execFile, spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import ignore from 'ignore';

const ROOT = join(import.meta.dirname, '../..');

/** The PATH of an FC custom runtime (the layer's node is called by its full path). */
export const FC_PATH = '/usr/local/bin:/usr/bin:/bin';

/** s.yaml's customRuntimeConfig, as `s preview` renders it. */
export interface CustomRuntimeConfig {
  command: string[];
  args?: string[];
}

/**
 * Files (relative, `/`-separated) that a deploy of `root` uploads: .fcignore read as
 * gitignore rules (the syntax it declares) and applied as git applies them, so a
 * folder it excludes is not entered and nothing below it can come back.
 */
export async function uploadedFiles(root = ROOT): Promise<string[]> {
  const rules = ignore().add(await readFile(join(root, '.fcignore'), 'utf8'));
  const uploaded: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(join(root, dir), { withFileTypes: true })) {
      const path = dir ? `${dir}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (!rules.ignores(`${path}/`)) await walk(path);
      } else if (!rules.ignores(path)) {
        uploaded.push(path);
      }
    }
  };
  await walk('');
  return uploaded.sort();
}

/** `npm run build`: dist/ as s.yaml's pre-deploy action leaves it. */
export async function buildBundle(): Promise<void> {
  await promisify(execFile)(process.execPath, ['scripts/build.mjs'], { cwd: ROOT });
}

/**
 * A fresh folder holding what a deploy uploads, built first unless `build` is false
 * (the caller built it). Throws if dist/fc.js is not among it.
 */
export async function codeFolder({ build = true }: { build?: boolean } = {}): Promise<string> {
  if (build) await buildBundle();
  const files = await uploadedFiles(ROOT);
  if (!files.includes('dist/fc.js')) throw new Error('dist/fc.js is not uploaded: build first (npm run build)');
  const dir = await mkdtemp(join(tmpdir(), 'fc-code-'));
  for (const file of files) {
    await mkdir(dirname(join(dir, file)), { recursive: true });
    await copyFile(join(ROOT, file), join(dir, file));
  }
  return dir;
}

/** What FC tells a function instance about itself. */
export interface FcInstance {
  port: number;
  /** FC_CUSTOM_LISTEN_PORT in the cloud; fc3's local emulation sets FC_SERVER_PORT. */
  portVariable?: 'FC_CUSTOM_LISTEN_PORT' | 'FC_SERVER_PORT';
  functionName: string;
  region: string;
  accountId: string;
  instanceId?: string;
  /** The function role's temporary credentials. */
  role?: { accessKeyId: string; accessKeySecret: string; securityToken?: string };
}

/** The variables FC sets in an instance, the bare PATH among them. */
export function fcVariables(instance: FcInstance): Record<string, string> {
  const { port, portVariable = 'FC_CUSTOM_LISTEN_PORT', role } = instance;
  return {
    PATH: FC_PATH,
    [portVariable]: String(port),
    FC_FUNCTION_NAME: instance.functionName,
    FC_REGION: instance.region,
    FC_ACCOUNT_ID: instance.accountId,
    ...(instance.instanceId ? { FC_INSTANCE_ID: instance.instanceId } : {}),
    ...(role
      ? {
          ALIBABA_CLOUD_ACCESS_KEY_ID: role.accessKeyId,
          ALIBABA_CLOUD_ACCESS_KEY_SECRET: role.accessKeySecret,
          ...(role.securityToken ? { ALIBABA_CLOUD_SECURITY_TOKEN: role.securityToken } : {}),
        }
      : {}),
  };
}

/**
 * Spawns `command + args` in the code folder with exactly `env`. command[0] is the
 * layer's node (/opt/nodejs20/bin/node); the running node stands in for it.
 */
export function spawnFcProcess(
  codeDir: string,
  runtime: CustomRuntimeConfig,
  env: Record<string, string>,
  stdio: StdioOptions = ['ignore', 'pipe', 'pipe'],
): ChildProcess {
  const [, ...commandArgs] = runtime.command;
  return spawn(process.execPath, [...commandArgs, ...(runtime.args ?? [])], { cwd: codeDir, env, stdio });
}

export interface StartedFcProcess {
  child: ChildProcess;
  /** stdout and stderr as they arrived. */
  output(): string;
}

/** Spawns as spawnFcProcess does and waits for the bundle's "listening" log line. */
export async function startFcProcess(
  codeDir: string,
  runtime: CustomRuntimeConfig,
  env: Record<string, string>,
): Promise<StartedFcProcess> {
  const child = spawnFcProcess(codeDir, runtime, env);
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += d.toString();
      if (/"msg":"listening"/.test(output)) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the bundle exited with ${code} before listening:\n${output}`)));
  });
  return { child, output: () => output };
}

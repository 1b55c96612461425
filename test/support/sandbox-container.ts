/**
 * The sandbox image run as FC runs it, under the engine `npm run image` builds with (podman
 * here): started with FC's variables on FC's port published on loopback, answered /health,
 * stopped and removed. Shared by the image tests; not a test file itself.
 */
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually } from './eventually.ts';
import { ROOT } from './mcp-harness.ts';
import { freePort } from './processes.ts';

const run = promisify(execFile);
export const IMAGE = 'localhost/fc-code-interpreter-sandbox:latest';

export interface Engine {
  engine: string;
  env: Record<string, string>;
  runArgs: string[];
}

/** The engine `npm run image` builds with, and what its calls need (CONTAINERS_CONF for podman here). */
export const engine = JSON.parse(
  execFileSync(process.execPath, [join(ROOT, 'scripts/image.mjs'), '--print-engine'], { encoding: 'utf8' }),
) as Engine;
const engineEnv = { ...process.env, ...engine.env };
export const containerCli = (args: string[]) => run(engine.engine, args, { env: engineEnv, maxBuffer: 16 * 1024 * 1024 });

/** Throws, saying how to build it (`how`), unless `image` is there. */
export async function requireImage(image = IMAGE, how = 'build it with `npm run image`'): Promise<void> {
  await containerCli(['image', 'inspect', image]).catch(() => {
    throw new Error(`no ${image}: ${how} (npm run test:image does)`);
  });
}

/**
 * How the engine makes containers' cgroups: `cgroupfs` takes any group as a parent
 * (`--cgroup-parent /name`); `systemd` only a slice.
 */
export async function cgroupManager(): Promise<string> {
  const format = engine.engine === 'docker' ? '{{.CgroupDriver}}' : '{{.Host.CgroupManager}}';
  const info = await containerCli(['info', '--format', format]).catch(() => ({ stdout: 'unknown' }));
  return info.stdout.trim() || 'unknown';
}

/** What FC gives the sandbox function's container: s.yaml's environment for it (rendered) and FC's variables. */
export function fcSandboxEnvironment(sandboxFunction: Record<string, any>, accountId: string, instance: string): Record<string, string> {
  return {
    ...(sandboxFunction.environmentVariables as Record<string, string>),
    FC_CUSTOM_LISTEN_PORT: String(sandboxFunction.customContainerConfig.port),
    FC_FUNCTION_NAME: sandboxFunction.functionName,
    FC_REGION: sandboxFunction.region,
    FC_ACCOUNT_ID: accountId,
    FC_INSTANCE_ID: instance,
  };
}

export interface Container {
  name: string;
  url: string;
  /** From `run` until /health answered 200. */
  healthAfterMs: number;
  logs(): Promise<string>;
  stop(): Promise<void>;
}

/** Starts the image as FC would: its env, FC's variables, FC's port (published on loopback); waits for /health. */
export async function startContainer(env: Record<string, string>, port: number, extraArgs: string[]): Promise<Container> {
  const hostPort = await freePort();
  const name = `fc-sandbox-image-test-${process.pid}-${hostPort}`;
  const envArgs = Object.entries(env).flatMap(([key, value]) => ['-e', `${key}=${value}`]);
  const started = performance.now();
  await containerCli([
    'run',
    '-d',
    '--rm',
    ...engine.runArgs,
    ...extraArgs,
    '--name',
    name,
    '-p',
    `127.0.0.1:${hostPort}:${port}`,
    ...envArgs,
    IMAGE,
  ]);
  const url = `http://127.0.0.1:${hostPort}`;
  // Stopped first, then removed: `rm -f` racing the --rm cleanup has left CNI's DNAT rule for the host
  // port behind, and a later listener on that loopback port then got EHOSTUNREACH (to a gone container).
  const stop = async () => {
    await containerCli(['stop', '-t', '5', name]).catch(() => {});
    await containerCli(['rm', '-f', '-t', '5', name]).catch(() => {});
  };
  const healthy = await eventually(async () => {
    try {
      return (await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) })).status === 200;
    } catch {
      return false;
    }
  }, 60_000);
  const logs = async () => {
    const { stdout, stderr } = await containerCli(['logs', name]).catch(() => ({ stdout: '', stderr: '' }));
    return stdout + stderr;
  };
  if (!healthy) {
    const output = await logs();
    await stop();
    throw new Error(`the container never answered /health:\n${output}`);
  }
  return { name, url, healthAfterMs: performance.now() - started, logs, stop };
}

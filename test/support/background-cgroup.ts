/**
 * A cgroup at the top of the CPU hierarchy whose tasks get only the CPU nothing else wants
 * (`cpu.idle`: SCHED_IDLE for the whole group), for a container that stands in for another
 * tenant's FC instance. On FC that instance has vCPUs of its own; here it shares two cores with
 * everything bob's requests pass through. Not a test file itself.
 *
 * Why at the top: podman puts every container under one parent (`libpod_parent`, or a slice),
 * which competes at the root as a single entity of the default weight. A container's own
 * `--cpu-shares` only orders it against the other containers there, so whenever bob's container
 * was between two of his requests, alice's CPU loops took the parent's whole share against the
 * MCP function and the gateway: 17.6 CPU-seconds of 48 with `--cpu-shares 2` alone, 7.0 of 36
 * in this group (2026-12-07, bench/README.md).
 */
import { access, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { removeGroupTree } from '../../src/sandbox-service/limits/kernel-cgroup.ts';

const ROOT = '/sys/fs/cgroup';

export interface BackgroundCgroup {
  /** The engine's arguments that start a container in the group. */
  runArgs: string[];
  /** Removes the group (in every hierarchy) once the containers in it have stopped. */
  remove(): Promise<void>;
}

/**
 * Makes the group, or says why it cannot (no `cpu.idle` before Linux 5.15, not root). For an
 * engine that makes cgroups itself (`cgroupfs`; under systemd it takes only slices as parents).
 */
export async function backgroundCgroup(name: string): Promise<BackgroundCgroup | { unavailable: string }> {
  // cgroup v1 keeps the CPU controller in a hierarchy of its own; v2 has one.
  const v1 = await exists(join(ROOT, 'cpu', 'cpu.shares'));
  const cpuDir = v1 ? join(ROOT, 'cpu', name) : join(ROOT, name);
  try {
    if (!v1 && !(await exists(join(ROOT, 'cgroup.controllers')))) return { unavailable: `no cgroup hierarchy at ${ROOT}` };
    await mkdir(cpuDir, { recursive: true });
    await writeFile(join(cpuDir, 'cpu.idle'), '1');
  } catch (error) {
    await removeGroupTree(cpuDir).catch(() => {});
    return { unavailable: `cannot make ${cpuDir} idle: ${(error as Error).message}` };
  }
  return {
    runArgs: ['--cgroup-parent', `/${name}`],
    async remove() {
      // The engine made the group in every v1 hierarchy it uses; remove it from each.
      const dirs = v1 ? (await readdir(ROOT)).map((hierarchy) => join(ROOT, hierarchy, name)) : [cpuDir];
      for (const dir of dirs) await removeGroupTree(dir);
    },
  };
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

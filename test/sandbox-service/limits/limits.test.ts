/**
 * Limits per context, tried as hostile code would: memory for the whole process
 * tree (children and tmpfs included), a process count, and a disk quota on the
 * session's workspace. Each attack must be stopped inside its context while the
 * server and the other contexts keep answering. Also: the sandbox says at start
 * which mechanism holds each limit.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ContextLimits, startSandbox, type RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { cgroupMounts, ownCgroupPaths, ownDirIn } from '../../../src/sandbox-service/limits/kernel-cgroup.ts';
import { eventually } from '../../support/eventually.ts';
import { pidsWithArgument, stillRunning } from '../../support/processes.ts';
import { createContext, execute, request } from '../../support/sandbox-support.ts';

const MEMORY_MB = 256;
const PIDS_MAX = 64;
const DISK_MB = 64;

let sandbox: RunningSandbox;
let url: string;

const A = { 'x-ci-session-id': 'limits-a' };

/**
 * The cpu group (v1's cpu and cpuacct hierarchies, or v2's unified one) a host process is in: its
 * quota in CPUs (undefined: none) and the CPU time its processes have used.
 */
async function cpuGroupOf(pid: number): Promise<{ dir: string; quotaCpus(): number | undefined; usageSeconds(): number } | undefined> {
  const paths = await ownCgroupPaths(`/proc/${pid}/cgroup`);
  const mounts = await cgroupMounts();
  const dirIn = (hierarchy: string, controller: string) => {
    const path = paths.get(hierarchy);
    const mount = mounts.find((m) => (controller ? m.fsType === 'cgroup' && m.superOptions.includes(controller) : m.fsType === 'cgroup2'));
    return path !== undefined && mount ? ownDirIn(mount, path) : undefined;
  };
  const read = (file: string) => readFileSync(file, 'utf8').trim();
  const [cpuDir, acctDir] = [dirIn('cpu', 'cpu'), dirIn('cpuacct', 'cpuacct')];
  if (cpuDir && acctDir) {
    return {
      dir: cpuDir,
      quotaCpus: () => {
        const quota = Number(read(`${cpuDir}/cpu.cfs_quota_us`));
        return quota < 0 ? undefined : quota / Number(read(`${cpuDir}/cpu.cfs_period_us`));
      },
      usageSeconds: () => Number(read(`${acctDir}/cpuacct.usage`)) / 1e9,
    };
  }
  const unified = dirIn('', '');
  if (!unified || !existsSync(`${unified}/cpu.max`)) return undefined;
  return {
    dir: unified,
    quotaCpus: () => {
      const [quota, period] = read(`${unified}/cpu.max`).split(' ');
      return quota === 'max' ? undefined : Number(quota) / Number(period);
    },
    usageSeconds: () => Number(/usage_usec (\d+)/.exec(read(`${unified}/cpu.stat`))?.[1]) / 1e6,
  };
}
const B = { 'x-ci-session-id': 'limits-b' };

before(async () => {
  sandbox = await startSandbox({ port: 0, poolSize: 1, memoryMb: MEMORY_MB, pidsMax: PIDS_MAX, diskMb: DISK_MB });
  url = sandbox.url;
});
after(async () => {
  await sandbox.close();
});

/** Python that starts `count` children each holding `mb` MiB (touched, so resident) and prints how many are alive. */
function holdChildren(count: number, mb: number): string {
  return `
import subprocess, sys, time
hold = "import sys, time\\nb = b'x' * (${mb} * 1024 * 1024)\\nsys.stdout.write('ready\\\\n'); sys.stdout.flush()\\ntime.sleep(60)"
children = []
try:
    for _ in range(${count}):
        child = subprocess.Popen([sys.executable, "-c", hold], stdout=subprocess.PIPE)
        child.stdout.readline()
        children.append(child)
    time.sleep(0.5)
    print("alive", sum(1 for child in children if child.poll() is None))
finally:
    for child in children:
        child.kill()
        child.wait()
`;
}

describe('sandbox limits', () => {
  test('memory holds for the whole context: five children of 100 MiB do not all live under 256 MiB', async () => {
    const run = await execute(url, { code: holdChildren(5, 100) }, A);
    if (run.error) {
      // The OOM killer may pick the kernel itself: then the context reports its death and goes on.
      assert.equal(run.error.name, 'KernelDiedError', run.error.traceback);
    } else {
      const alive = Number(/alive (\d+)/.exec(run.stdout)?.[1]);
      assert.ok(alive * 100 < MEMORY_MB, `${alive} children of 100 MiB lived at once under a limit of ${MEMORY_MB} MiB`);
    }
    const other = await execute(url, { code: '1+1' }, B);
    assert.equal(other.results[0]?.text, '2');
    const same = await execute(url, { code: '2+2' }, A);
    assert.equal(same.results[0]?.text, '4', same.error?.value);
  });

  test("files in the context's /tmp count against its memory", async () => {
    const code = `
with open("/tmp/fill", "wb") as f:
    for _ in range(200):
        f.write(b"x" * (1024 * 1024))
${holdChildren(1, 150)}
`;
    const run = await execute(url, { code }, A);
    if (run.error) {
      assert.equal(run.error.name, 'KernelDiedError', run.error.traceback);
    } else {
      assert.match(run.stdout, /alive 0/, 'a 150 MiB child lived beside 200 MiB of /tmp under a limit of 256 MiB');
    }
    await execute(url, { code: 'import os\nos.path.exists("/tmp/fill") and os.remove("/tmp/fill")' }, A);
    const other = await execute(url, { code: '1+1' }, B);
    assert.equal(other.results[0]?.text, '2');
  });

  test('a fork storm is stopped at the process limit while another context answers', async () => {
    const storm = `
import os, time
pids, failure = [], None
try:
    for _ in range(300):
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        pids.append(pid)
except OSError as error:
    failure = type(error).__name__
print(len(pids), failure)
for pid in pids:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
`;
    const [run, other] = await Promise.all([execute(url, { code: storm }, A), execute(url, { code: '1+1' }, B)]);
    assert.equal(other.results[0]?.text, '2');
    assert.equal(run.error, undefined, run.error?.traceback);
    const [forked, failure] = run.stdout.trim().split(' ');
    assert.ok(Number(forked) < PIDS_MAX, `${forked} forks succeeded under a limit of ${PIDS_MAX}`);
    assert.equal(failure, 'BlockingIOError');
    const again = await execute(url, { code: '3+3' }, A);
    assert.equal(again.results[0]?.text, '6');
  });

  test('writing past the disk quota fails inside; the workspace survives a restart', async () => {
    const id = await createContext(url, {}, A);
    const keep = await execute(url, { code: 'open("keep.txt", "w").write("kept")', context_id: id }, A);
    assert.equal(keep.error, undefined, keep.error?.traceback);
    const fill = `
import errno
written = 0
try:
    with open("fill.bin", "wb") as f:
        for _ in range(${DISK_MB * 2}):
            f.write(b"x" * (1024 * 1024))
            f.flush()
            written += 1
except OSError as error:
    print(errno.errorcode[error.errno], written)
`;
    const run = await execute(url, { code: fill, context_id: id }, A);
    assert.equal(run.error, undefined, run.error?.traceback);
    const [code, written] = run.stdout.trim().split(' ');
    assert.ok(code === 'ENOSPC' || code === 'EDQUOT', run.stdout);
    assert.ok(Number(written) <= DISK_MB, `${written} MiB written under a quota of ${DISK_MB} MiB`);
    const other = await execute(url, { code: '1+1' }, B);
    assert.equal(other.results[0]?.text, '2');

    await execute(url, { code: 'import os\nos.remove("fill.bin")', context_id: id }, A);
    const restarted = await request(url, 'POST', `/contexts/${id}/restart`, undefined, A);
    assert.equal(restarted.status, 200, restarted.text);
    const read = await execute(url, { code: 'open("keep.txt").read()', context_id: id }, A);
    assert.match(read.results[0]?.text ?? '', /kept/, read.error?.traceback);
  });

  test('CPU: four busy loops in a bash context are held to one CPU (SANDBOX_CPUS, default 1) and end with the context', async () => {
    // A security review's finding: they burned both cores until stop_context, whatever the run's timeout.
    const marker = `cpu-burn-${randomUUID()}`;
    const id = await createContext(url, { language: 'bash' }, A);
    const started = await execute(
      url,
      { code: `for i in 1 2 3 4; do sh -c 'while :; do :; done' ${marker} & done; echo started`, context_id: id },
      A,
    );
    assert.match(started.stdout, /started/, started.stderr);
    let loops: number[] = [];
    const found = () => {
      loops = pidsWithArgument(marker);
      return loops.length === 4;
    };
    assert.ok(await eventually(found), `4 loops running, found ${loops.length}`);
    const cpu = await cpuGroupOf(loops[0]!);
    assert.ok(cpu, `the loops' cpu group is not visible: ${readFileSync(`/proc/${loops[0]}/cgroup`, 'utf8')}`);
    assert.equal(cpu.quotaCpus(), 1, 'the context has a quota of one CPU');
    for (const loop of loops.slice(1)) assert.equal((await cpuGroupOf(loop))?.dir, cpu.dir, 'one group holds every loop');
    const [usage0, time0] = [cpu.usageSeconds(), performance.now()];
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const used = (cpu.usageSeconds() - usage0) / ((performance.now() - time0) / 1000);
    assert.ok(used <= 1.15, `the four loops used ${used.toFixed(2)} CPUs under a limit of one`);
    const other = await execute(url, { code: '1+1' }, B);
    assert.equal(other.results[0]?.text, '2');
    await request(url, 'DELETE', `/contexts/${id}`, undefined, A);
    assert.ok(await eventually(() => stillRunning(loops).length === 0), `still burning after stop_context: ${stillRunning(loops)}`);
  });

  test('a JavaScript kernel runs within the same limits', async () => {
    const id = await createContext(url, { language: 'javascript' }, B);
    const run = await execute(url, { code: '[1, 2, 3].map((x) => x * 2).join(",")', context_id: id }, B);
    assert.equal(run.results[0]?.text, '2,4,6', run.error?.value);
  });
});

describe('sandbox limits without cgroups', () => {
  test('a watchdog stops a context whose processes and /tmp hold more than its memory', async () => {
    const settings = { memoryMb: MEMORY_MB, pidsMax: 0, diskMb: 0 };
    const limits = await ContextLimits.open(settings, '/nonexistent', { cgroups: false, loopDisk: false });
    assert.equal(limits.describe(), 'sandbox limits: memory=rss-watchdog pids=off cpu=off disk=off');
    const own = await startSandbox({ port: 0, poolSize: 0, ...settings }, { limits, log: () => {} });
    try {
      const code = `
import subprocess, sys, time
hold = "import time\\nb = b'x' * (100 * 1024 * 1024)\\ntime.sleep(120)"
children = [subprocess.Popen([sys.executable, "-c", hold]) for _ in range(5)]
for _ in range(600):
    time.sleep(0.1)
print("survived")
`;
      const run = await execute(own.url, { code }, A);
      assert.equal(run.error?.name, 'KernelDiedError', `${run.stdout}${run.error?.traceback ?? ''}`);
      const after = await execute(own.url, { code: '1+1' }, A);
      assert.equal(after.results[0]?.text, '2');
    } finally {
      await own.close();
    }
  });
});

describe('sandbox limits at start and stop', () => {
  test('closing the sandbox leaves no workspace mount behind', async () => {
    const own = await startSandbox({ port: 0, poolSize: 0, diskMb: 16 });
    await execute(own.url, { code: 'open("a.txt", "w").write("a")' }, A);
    await own.close();
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
    assert.ok(!mounts.includes(own.workspaceRoot), `a mount under ${own.workspaceRoot} is left:\n${mounts}`);
  });

  test('the sandbox says in one line which mechanism holds each limit', async () => {
    const entry = fileURLToPath(new URL('../../../handlers/sandbox.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', entry], {
      env: { ...process.env, SANDBOX_PORT: '0', SANDBOX_POOL_SIZE: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        const look = (chunk: Buffer) => {
          output += chunk.toString('utf8');
          if (/listening on/.test(output)) resolve();
        };
        child.stdout.on('data', look);
        child.stderr.on('data', look);
        child.once('exit', () => reject(new Error(`the sandbox exited:\n${output}`)));
      });
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    // A JSON log line, as every line the sandbox writes to stderr.
    const lines = output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => String((JSON.parse(line) as { msg: unknown }).msg))
      .filter((msg) => msg.startsWith('sandbox limits:'));
    assert.equal(lines.length, 1, output);
    const match = /^sandbox limits: memory=(\S+) pids=(\S+) cpu=(\S+) disk=(\S+)$/.exec(lines[0]!);
    assert.ok(match, lines[0]);
    assert.match(match[1]!, /^(cgroup-v1|cgroup-v2|rss-watchdog|off)$/);
    assert.match(match[2]!, /^(cgroup-v1|cgroup-v2|none|off)$/);
    assert.match(match[3]!, /^(cgroup-v1|cgroup-v2|none|off)$/);
    assert.match(match[4]!, /^(loop-ext4|none|off)$/);
    if (process.getuid?.() === 0) {
      // CI runs as root on hosts with writable cgroup v1 memory, pids and cpu and loop devices, as here.
      assert.deepEqual(match.slice(1), ['cgroup-v1', 'cgroup-v1', 'cgroup-v1', 'loop-ext4'], lines[0]);
    }
  });
});

describe('CPU per tenant (SANDBOX_TENANT_CPUS)', () => {
  let tenants: RunningSandbox;
  before(async () => {
    tenants = await startSandbox({ port: 0, poolSize: 1, cpus: 1, tenantCpus: 1 });
  });
  after(async () => {
    await tenants?.close();
  });
  const quota = (prefix: string) => ({ session_prefix: prefix, max_contexts: 10 });
  /** The tenant's group above a context's cpu group. */
  const tenantDirOf = (dir: string) => dir.slice(0, dir.lastIndexOf('/'));
  type CpuGroup = NonNullable<Awaited<ReturnType<typeof cpuGroupOf>>>;
  /** The CPUs each set of groups used together over the same `ms`. */
  async function cpusUsed(ms: number, sets: CpuGroup[][]): Promise<number[]> {
    const usage = (set: CpuGroup[]) => set.reduce((sum, group) => sum + group.usageSeconds(), 0);
    const [before, started] = [sets.map(usage), performance.now()];
    await new Promise((resolve) => setTimeout(resolve, ms));
    const seconds = (performance.now() - started) / 1000;
    return sets.map((set, i) => (usage(set) - before[i]!) / seconds);
  }

  test("one tenant's contexts share its CPU, a spare taken by it included; another tenant's stay apart", async () => {
    // A fairness review's finding: one tenant's busy contexts took a CPU each, and on two cores the
    // server and the other tenants waited for theirs.
    const marker = `tenant-burn-${randomUUID()}`;
    const t1 = { 'x-ci-session-id': 'tenant-t-1' };
    const t2 = { 'x-ci-session-id': 'tenant-t-2' };
    const u1 = { 'x-ci-session-id': 'tenant-u-1' };
    // The first Python context takes the pool's spare, started before anyone's: it must join tenant t.
    const python = await createContext(tenants.url, { language: 'python', quota: quota('tenant-t-') }, t1);
    const bash = await createContext(tenants.url, { language: 'bash', quota: quota('tenant-t-') }, t2);
    const other = await createContext(tenants.url, { language: 'bash', quota: quota('tenant-u-') }, u1);
    const loop = `while :; do :; done`;
    const spawned = await execute(
      tenants.url,
      {
        code: `import subprocess\nfor _ in range(2): subprocess.Popen(["sh", "-c", "${loop}", "${marker}-t1"])\nprint("started")`,
        context_id: python,
      },
      t1,
    );
    assert.match(spawned.stdout, /started/, spawned.error?.traceback);
    for (const [id, headers, name] of [
      [bash, t2, 't2'],
      [other, u1, 'u1'],
    ] as const) {
      const started = await execute(
        tenants.url,
        { code: `for i in 1 2; do sh -c '${loop}' ${marker}-${name} & done; echo started`, context_id: id },
        headers,
      );
      assert.match(started.stdout, /started/, started.stderr);
    }
    const loops: Record<string, number[]> = {};
    const found = () => {
      for (const name of ['t1', 't2', 'u1']) loops[name] = pidsWithArgument(`${marker}-${name}`);
      return Object.values(loops).every((pids) => pids.length === 2);
    };
    try {
      assert.ok(await eventually(found), `2 loops per context, found ${JSON.stringify(loops)}`);
      const [g1, g2, gu] = await Promise.all([cpuGroupOf(loops.t1![0]!), cpuGroupOf(loops.t2![0]!), cpuGroupOf(loops.u1![0]!)]);
      assert.ok(g1 && g2 && gu, `the loops' cpu groups are not visible: ${readFileSync(`/proc/${loops.t1![0]}/cgroup`, 'utf8')}`);
      assert.notEqual(g1.dir, g2.dir, 'each context keeps a group of its own');
      assert.equal(tenantDirOf(g1.dir), tenantDirOf(g2.dir), "tenant t's contexts (the spare's too) are under one group");
      assert.notEqual(tenantDirOf(gu.dir), tenantDirOf(g1.dir), "tenant u's context is not under tenant t's group");
      assert.equal(g1.quotaCpus(), 1, 'each context keeps its own quota');
      const [usedByT, usedByU] = (await cpusUsed(3000, [[g1, g2], [gu]])) as [number, number];
      assert.ok(usedByT <= 1.15, `tenant t's two contexts used ${usedByT.toFixed(2)} CPUs under a tenant limit of one`);
      assert.ok(usedByU > 0.2, `tenant u's context, beside them, got ${usedByU.toFixed(2)} CPUs`);
    } finally {
      for (const [id, headers] of [
        [python, t1],
        [bash, t2],
        [other, u1],
      ] as const) {
        await request(tenants.url, 'DELETE', `/contexts/${id}`, undefined, headers);
      }
    }
    const all = Object.values(loops).flat();
    assert.ok(await eventually(() => stillRunning(all).length === 0), `still burning after their contexts ended: ${stillRunning(all)}`);
  });

  test('a tenant busy past half its CPU runs in the background, still using idle CPU, until it calms down', async () => {
    // A fairness review: on two cores another tenant's trivial run waited behind a busy tenant's
    // loops; a tenant's quota alone bounds how much it takes, not how soon others get a CPU back.
    const marker = `tenant-background-${randomUUID()}`;
    const busyHeaders = { 'x-ci-session-id': 'background-b-1' };
    const quietHeaders = { 'x-ci-session-id': 'background-q-1' };
    const busy = await createContext(tenants.url, { language: 'bash', quota: quota('background-b-') }, busyHeaders);
    const quiet = await createContext(tenants.url, { language: 'bash', quota: quota('background-q-') }, quietHeaders);
    try {
      const started = await execute(
        tenants.url,
        { code: `for i in 1 2; do sh -c 'while :; do :; done' ${marker} & done; echo started`, context_id: busy },
        busyHeaders,
      );
      assert.match(started.stdout, /started/, started.stderr);
      const quietRun = await execute(tenants.url, { code: 'echo $$', context_id: quiet }, quietHeaders);
      assert.ok(await eventually(() => pidsWithArgument(marker).length === 2), 'the two loops did not start');
      const [busyGroup, quietGroup] = await Promise.all([
        cpuGroupOf(pidsWithArgument(marker)[0]!),
        cpuGroupOf(Number(quietRun.stdout.trim())),
      ]);
      assert.ok(busyGroup && quietGroup, "the contexts' cpu groups are not visible");
      const idleOf = (dir: string) => readFileSync(`${tenantDirOf(dir)}/cpu.idle`, 'utf8').trim();
      assert.ok(await eventually(() => idleOf(busyGroup.dir) === '1', 5000), `the busy tenant's group: cpu.idle ${idleOf(busyGroup.dir)}`);
      assert.equal(idleOf(quietGroup.dir), '0', "the quiet tenant's group stays in front");
      // In the background it still takes what nobody else wants: its quota's worth on this idle host.
      const [used] = (await cpusUsed(2000, [[busyGroup]])) as [number];
      assert.ok(used > 0.8, `in the background the busy tenant got ${used.toFixed(2)} of its 1 CPU on an idle host`);
      // It gives way to the server's own processes too, not only to other tenants' kernels: two
      // loops in the server's group (this process's: the sandbox runs in it) take both CPUs. Under
      // the sandbox's own group the tenant met them as that group, at full weight (0.95 CPU here).
      // Starved, it uses little and comes back in front after a second, for a moment: 0.12-0.13 CPU
      // on average here.
      const serverLoops = [0, 1].map(() => spawn('sh', ['-c', 'while :; do :; done', `${marker}-server`], { stdio: 'ignore' }));
      try {
        const [beside] = (await cpusUsed(2000, [[busyGroup]])) as [number];
        assert.ok(beside < 0.4, `beside the server's two busy loops the background tenant still got ${beside.toFixed(2)} CPUs`);
      } finally {
        for (const loop of serverLoops) loop.kill('SIGKILL');
      }
      const stopped = await execute(tenants.url, { code: `pkill -f ${marker}; echo stopped`, context_id: busy }, busyHeaders);
      assert.match(stopped.stdout, /stopped/, stopped.stderr);
      assert.ok(await eventually(() => idleOf(busyGroup.dir) === '0', 5000), 'once calm the tenant is back in front');
    } finally {
      await request(tenants.url, 'DELETE', `/contexts/${busy}`, undefined, busyHeaders);
      await request(tenants.url, 'DELETE', `/contexts/${quiet}`, undefined, quietHeaders);
    }
    assert.ok(await eventually(() => stillRunning(pidsWithArgument(marker)).length === 0), 'the loops outlived their context');
  });
});

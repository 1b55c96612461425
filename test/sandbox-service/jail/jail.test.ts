/**
 * Escape attempts against the kernels' jail, as a security review tried them against
 * a root server: each is made from real Python and Deno kernels through the
 * sandbox service's HTTP API, and must fail without touching the host.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { arch, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startSandbox, type RunningSandbox } from '../../../src/sandbox-service/index.ts';
import { resolveDenoBinary } from '../../../src/sandbox-service/kernels/deno-kernel.ts';
import { SessionUids } from '../../../src/sandbox-service/jail/session-uids.ts';
import { descendants, processesIn, sandboxNamespaces } from '../../support/processes.ts';
import { createContext, execute, listeningUrl, request } from '../../support/sandbox-support.ts';

const A = { 'x-ci-session-id': 'jail-a' };
const B = { 'x-ci-session-id': 'jail-b' };
const isRoot = process.getuid?.() === 0;

let sandbox: RunningSandbox;
let url: string;
let python: string;
let deno: string;

before(async () => {
  sandbox = await startSandbox({ port: 0, poolSize: 0 });
  url = sandbox.url;
  python = await createContext(url, {}, A);
  deno = await createContext(url, { language: 'javascript' }, A);
});
after(async () => {
  await sandbox.close();
});

async function py(code: string, headers = A, context = python) {
  const run = await execute(url, { code, context_id: context }, headers);
  assert.equal(run.error, undefined, run.error?.traceback?.toString());
  return run.stdout;
}

async function js(code: string) {
  const run = await execute(url, { code, context_id: deno }, A);
  assert.equal(run.error, undefined, `${run.error?.name}: ${run.error?.value}`);
  return run.stdout;
}

describe('the jail: /proc', () => {
  // Opening for writing is the escape; what is written is the value already there, so a
  // failing run leaves the host as it was.
  test('host sysctls cannot be written from Python or Deno, and the host value stays', async () => {
    const before = readFileSync('/proc/sys/vm/swappiness', 'utf8');
    const fromPython = await py(
      'import os, errno\n' +
        'for path in ("/proc/sys/vm/swappiness", "/proc/sys/kernel/core_pattern"):\n' +
        '    try:\n' +
        '        fd = os.open(path, os.O_WRONLY)\n' +
        // Never changes anything, even should the open succeed: it writes back the value it read.
        '        try:\n' +
        '            os.write(fd, open(path, "rb").read())\n' +
        '        finally:\n' +
        '            os.close(fd)\n' +
        '        print(path, "opened")\n' +
        '    except OSError as e:\n' +
        '        print(path, errno.errorcode[e.errno])',
    );
    assert.doesNotMatch(fromPython, /opened/);
    assert.match(fromPython, /swappiness (EROFS|EACCES)\n/);
    const fromDeno = await js(
      'for (const path of ["/proc/sys/vm/swappiness", "/proc/sys/kernel/core_pattern"]) {\n' +
        '  try { Deno.openSync(path, { write: true }).close(); console.log(path, "opened"); }\n' +
        '  catch (e) { console.log(path, e.name); }\n' +
        '}',
    );
    assert.doesNotMatch(fromDeno, /opened/);
    assert.equal(readFileSync('/proc/sys/vm/swappiness', 'utf8'), before);
  });

  test("/proc's host-wide knobs are read-only and its host secrets masked", async () => {
    const out = await py(
      'import os, json\n' +
        'ro = {p: bool(os.statvfs(p).f_flag & os.ST_RDONLY) for p in ("/proc/sys", "/proc/irq", "/proc/bus", "/proc/fs", "/proc/sysrq-trigger") if os.path.exists(p)}\n' +
        'def size(p):\n' +
        '    try:\n' +
        '        return len(open(p, "rb").read(64))\n' +
        '    except PermissionError:\n' +
        '        return 0\n' +
        'masked = {p: size(p) for p in ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/latency_stats") if os.path.exists(p)}\n' +
        'print(json.dumps({"ro": ro, "masked": masked}))',
    );
    const { ro, masked } = JSON.parse(out) as { ro: Record<string, boolean>; masked: Record<string, number> };
    for (const path of ['/proc/sys', '/proc/irq', '/proc/bus', '/proc/fs']) assert.equal(ro[path], true, path);
    for (const [path, isRo] of Object.entries(ro)) assert.equal(isRo, true, path);
    assert.ok('/proc/keys' in masked && '/proc/timer_list' in masked, out);
    // /dev/null bound over them (nodev: unreadable) tells nothing either way.
    for (const [path, length] of Object.entries(masked)) assert.equal(length, 0, path);
  });
});

describe('the jail: /dev', () => {
  test('/dev is read-only from Python and Deno; /dev/shm is writable but capped', async () => {
    const out = await py(
      'import os, errno\n' +
        'try:\n' +
        '    open("/dev/evil", "w"); print("created")\n' +
        'except OSError as e:\n' +
        '    print(errno.errorcode[e.errno])\n' +
        'st = os.statvfs("/dev/shm")\n' +
        'print(st.f_blocks * st.f_frsize)\n' +
        'chunk = b"x" * (1 << 20)\n' +
        'written = 0\n' +
        'try:\n' +
        '    with open("/dev/shm/fill", "wb") as f:\n' +
        '        for _ in range(4096):\n' +
        '            f.write(chunk); f.flush(); written += 1\n' +
        'except OSError as e:\n' +
        '    print(errno.errorcode[e.errno], written)\n' +
        'os.remove("/dev/shm/fill")',
    );
    const [devWrite, shmSize, fill] = out.trim().split('\n');
    assert.equal(devWrite, 'EROFS');
    assert.ok(Number(shmSize) > 0 && Number(shmSize) <= 64 * 1024 * 1024, shmSize);
    assert.match(fill!, /^ENOSPC \d+$/);
    assert.ok(Number(fill!.split(' ')[1]) >= 1, 'a little fits in /dev/shm');
    const fromDeno = await js('try { Deno.writeTextFileSync("/dev/evil", "x"); console.log("created") } catch (e) { console.log(e.name) }');
    assert.doesNotMatch(fromDeno, /created/);
  });
});

describe('the jail: nested namespaces and system calls', () => {
  test('no nested user namespace: unshare -Urm and unshare(2) fail in Python and Deno', async () => {
    const out = await py(
      'import subprocess, ctypes, os\n' +
        'libc = ctypes.CDLL(None, use_errno=True)\n' +
        'r = subprocess.run(["unshare", "-Urm", "true"], capture_output=True)\n' +
        'print(r.returncode != 0, libc.unshare(0x10000000), os.strerror(ctypes.get_errno()))',
    );
    assert.equal(out, 'True -1 Operation not permitted\n');
    const fromDeno = await js(
      'const r = new Deno.Command("unshare", { args: ["-Urm", "true"], stderr: "null", stdout: "null" }).outputSync();\n' +
        'console.log(r.success)',
    );
    assert.equal(fromDeno, 'false\n');
  });

  // x86_64 numbers; the filter itself is built by libseccomp for whatever the host is.
  // A string argument is passed as a C string (umount2 of a real path: EPERM, not EFAULT, in Deno's jail).
  const SYSCALLS: Record<string, [number, Array<number | string>]> = {
    keyctl: [250, [0]],
    add_key: [248, [0]],
    request_key: [249, [0]],
    bpf: [321, [0]],
    perf_event_open: [298, [0]],
    userfaultfd: [323, [0]],
    kexec_load: [246, [0]],
    kexec_file_load: [320, [0]],
    init_module: [175, [0]],
    finit_module: [313, [0]],
    delete_module: [176, [0]],
    mount: [165, [0]],
    umount2: [166, ['/tmp']],
    pivot_root: [155, [0]],
    ptrace: [101, [0]],
    unshare: [272, [0x00020000]],
    setns: [308, [0]],
    open_by_handle_at: [304, [0]],
    // clone with new namespaces (CLONE_NEWUSER|CLONE_NEWNS, no exit signal: never a usable child)
    clone: [56, [0x10020000]],
    clone3: [435, [0]],
    // Beyond those, as container runtimes deny them to a container without CAP_SYS_PTRACE / CAP_SYS_NICE.
    kcmp: [312, [0]],
    pidfd_getfd: [438, [0]],
    process_madvise: [440, [0]],
    mbind: [237, [0]],
    move_pages: [279, [0]],
    migrate_pages: [256, [0]],
    modify_ldt: [154, [0]],
    // ADDR_NO_RANDOMIZE: turns ASLR off for what the code execs next.
    personality: [135, [0x0040000]],
  };
  const probe =
    'import ctypes, errno, json\n' +
    'libc = ctypes.CDLL(None, use_errno=True)\n' +
    'libc.syscall.restype = ctypes.c_long\n' +
    `calls = json.loads(${JSON.stringify(JSON.stringify(SYSCALLS))})\n` +
    'out = {}\n' +
    'for name, (nr, args) in calls.items():\n' +
    '    ctypes.set_errno(0)\n' +
    '    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_char_p(a.encode()) if isinstance(a, str) else ctypes.c_long(a) for a in args], ctypes.c_long(0), ctypes.c_long(0))\n' +
    '    out[name] = errno.errorcode.get(ctypes.get_errno(), "OK") if r == -1 else f"returned {r}"\n' +
    'print(json.dumps(out))';
  const expected = Object.fromEntries(Object.keys(SYSCALLS).map((name) => [name, name === 'clone3' ? 'ENOSYS' : 'EPERM']));

  test('the seccomp filter denies the dangerous calls to Python', { skip: arch() !== 'x64' && 'x86_64 syscall numbers' }, async () => {
    assert.deepEqual(JSON.parse(await py(probe)), expected);
  });

  test('the default personas stay: a query, PER_LINUX and PER_LINUX32 (as `setarch i686` sets it)', async () => {
    const out = await py(
      'import ctypes\n' +
        'libc = ctypes.CDLL(None, use_errno=True)\n' +
        'libc.personality.restype = ctypes.c_int\n' +
        'print([libc.personality(ctypes.c_ulong(p)) for p in (0xFFFFFFFF, 0x0008, 0x20008, 0x0000, 0xFFFFFFFF)])\n' +
        'import subprocess\n' +
        'print(subprocess.run(["setarch", "i686", "uname", "-m"], capture_output=True, text=True).stdout.strip())',
    );
    assert.equal(out, '[0, 0, 8, 131080, 0]\ni686\n');
  });

  test('the seccomp filter denies the dangerous calls in the Deno kernel too', {
    skip: arch() !== 'x64' && 'x86_64 syscall numbers',
  }, async () => {
    const out = await js(
      `const r = new Deno.Command("/usr/bin/python3", { args: ["-c", ${JSON.stringify(probe)}] }).outputSync();\n` +
        'console.log(new TextDecoder().decode(r.stdout).trim() || new TextDecoder().decode(r.stderr))',
    );
    assert.deepEqual(JSON.parse(out), expected);
  });
});

describe('the jail: socket families', () => {
  // The network namespace confines inet sockets only: vsock reaches the hypervisor (this host is a VM),
  // packet/alg/bluetooth/key sockets reach host kernel code no kernel needs. Denied families fail as
  // an unsupported family; a family with high bits set (the kernel reads an int, the filter 64 bits) too.
  const familyProbe =
    'import ctypes, errno, json, socket\n' +
    'libc = ctypes.CDLL(None, use_errno=True)\n' +
    'libc.syscall.restype = ctypes.c_long\n' +
    'def attempt(family, kind, proto=0):\n' +
    '    try:\n' +
    '        s = socket.socket(family, kind, proto)\n' +
    '    except OSError as e:\n' +
    '        return errno.errorcode.get(e.errno, str(e.errno))\n' +
    '    s.close()\n' +
    '    return "OK"\n' +
    'out = {\n' +
    '    "unix": attempt(1, 1), "inet": attempt(2, 1), "inet6": attempt(10, 2), "netlink-route": attempt(16, 3, 0),\n' +
    '    "vsock": attempt(40, 1), "packet": attempt(17, 3), "alg": attempt(38, 5), "key": attempt(15, 3, 2),\n' +
    '    "bluetooth": attempt(31, 1, 0), "tipc": attempt(30, 2), "rds": attempt(21, 5), "unspec": attempt(0, 1),\n' +
    '    "netlink-sock-diag": attempt(16, 3, 4), "netlink-uevent": attempt(16, 3, 15), "netlink-audit": attempt(16, 3, 9),\n' +
    '}\n' +
    'fd = libc.syscall(ctypes.c_long(41), ctypes.c_long((1 << 32) | 40), ctypes.c_long(1), ctypes.c_long(0))\n' +
    'out["vsock-high-bits"] = "OK" if fd >= 0 else errno.errorcode[ctypes.get_errno()]\n' +
    'print(json.dumps(out))';
  const allowed = ['unix', 'inet', 'inet6', 'netlink-route'];

  function assertFamilies(out: string) {
    const results = JSON.parse(out) as Record<string, string>;
    for (const [family, result] of Object.entries(results)) {
      if (allowed.includes(family)) assert.equal(result, 'OK', `${family}: ${out}`);
      else assert.ok(['EAFNOSUPPORT', 'EPERM', 'EPROTONOSUPPORT'].includes(result), `${family} is denied: ${out}`);
    }
    assert.equal(results.vsock, 'EAFNOSUPPORT', out);
    assert.equal(results['vsock-high-bits'], 'EAFNOSUPPORT', out);
  }

  test('Python code gets unix, inet, inet6 and netlink-route sockets, and no other family', async () => {
    assertFamilies(await py(familyProbe));
  });

  test("the Deno kernel's processes get no other family either, nor Deno's own vsock transport", async () => {
    const out = await js(
      `const r = await new Deno.Command("/usr/bin/python3", { args: ["-c", ${JSON.stringify(familyProbe)}] }).output();\n` +
        'console.log(new TextDecoder().decode(r.stdout).trim() || new TextDecoder().decode(r.stderr))',
    );
    assertFamilies(out);
    // Deno's own vsock transport, in a Deno the code starts (the kernel itself has no unstable flags).
    const vsock =
      'setTimeout(() => { console.log("no answer"); Deno.exit(0); }, 3000);\n' +
      'try { await Deno.connect({ transport: "vsock", cid: 1, port: 1 }); console.log("connected"); }\n' +
      'catch (e) { console.log(e.name, e.message); }\n' +
      'Deno.exit(0);';
    const fromDeno = await js(
      `const r = await new Deno.Command("/opt/deno/deno", { args: ["eval", "--unstable-vsock", ${JSON.stringify(vsock)}] }).output();\n` +
        'console.log(new TextDecoder().decode(r.stdout).trim() || new TextDecoder().decode(r.stderr))',
    );
    assert.match(fromDeno, /Address family not supported/, fromDeno);
  });

  test('Python and Deno still do their usual network work: loopback TCP, name lookup, socketpair', async () => {
    const out = await py(
      'import socket, json\n' +
        'server = socket.create_server(("127.0.0.1", 0))\n' +
        'client = socket.create_connection(server.getsockname())\n' +
        'conn, _ = server.accept()\n' +
        'client.sendall(b"ping")\n' +
        'a, b = socket.socketpair()\n' +
        'a.sendall(b"pair")\n' +
        'print(json.dumps([conn.recv(4).decode(), b.recv(4).decode(), socket.getaddrinfo("127.0.0.1", 80, flags=socket.AI_ADDRCONFIG)[0][4][1], socket.if_nameindex()[0][1]]))',
    );
    assert.deepEqual(JSON.parse(out), ['ping', 'pair', 80, 'lo']);
    const fromDeno = await js(
      'const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });\n' +
        'const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });\n' +
        'const conn = await listener.accept();\n' +
        'await client.write(new TextEncoder().encode("ping"));\n' +
        'const buf = new Uint8Array(4); await conn.read(buf);\n' +
        'console.log(new TextDecoder().decode(buf), Deno.networkInterfaces().some((i) => i.name === "lo"));\n' +
        'client.close(); conn.close(); listener.close();',
    );
    assert.equal(fromDeno, 'ping true\n');
  });
});

describe('the jail: host uid', { skip: !isRoot && 'the server is not root: kernels run as its uid' }, () => {
  // Checked from the host: inside, uid_map shows the intermediate user namespace of --disable-userns (outer "0").
  test("a root server's kernels run under an unprivileged uid of their session, one per session", async () => {
    const other = await createContext(url, {}, B);
    await py('open("owned-a.txt", "w").write("a")');
    await py('open("owned-b.txt", "w").write("b")', B, other);
    const workspaceA = (await sandbox.workspaceOf('jail-a'))!;
    const uidA = statSync(join(workspaceA, 'owned-a.txt')).uid;
    const uidB = statSync(join((await sandbox.workspaceOf('jail-b'))!, 'owned-b.txt')).uid;
    assert.notEqual(uidA, 0);
    assert.notEqual(uidB, 0);
    assert.notEqual(uidA, uidB);
    assert.equal(statSync(workspaceA).uid, uidA);
    const kernels = processesIn(sandboxNamespaces());
    assert.ok(kernels.length >= 3, 'the kernels of both sessions are found');
    for (const pid of kernels) {
      const uids = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (!uids) continue; // gone meanwhile
      for (const uid of uids.slice(1)) assert.ok([uidA, uidB].includes(Number(uid)), `pid ${pid} runs as ${uids[0]}`);
    }
    assert.equal((await request(url, 'DELETE', `/contexts/${other}`, undefined, B)).status, 200);
  });

  test('a root server refuses a workspace root its session uids cannot reach, saying why', async () => {
    const closed = await mkdtemp(join(tmpdir(), 'closed-'));
    try {
      await assert.rejects(
        startSandbox({ port: 0, poolSize: 0, workspaceRoot: join(closed, 'root') }),
        new RegExp(`${closed} must be searchable by others`),
      );
    } finally {
      await rm(closed, { recursive: true, force: true });
    }
  });

  test('a session uid is shared by its leases and given back after the last one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uids-'));
    const uids = new SessionUids({ first: 900_000, count: 2, registryDir: join(dir, 'registry') });
    try {
      const a1 = await uids.acquire('a', dir);
      const a2 = await uids.acquire('a', dir);
      const b = await uids.acquire('b', dir);
      assert.equal(a1.uid, a2.uid);
      assert.notEqual(a1.uid, b.uid);
      await assert.rejects(uids.acquire('c', dir), /no free session uid/);
      // release() ends the uid's processes before the uid is free again: awaited, as the sandbox does.
      await a1.release();
      await a1.release();
      await assert.rejects(uids.acquire('c', dir), /no free session uid/);
      await a2.release();
      const c = await uids.acquire('c', dir);
      assert.equal(c.uid, a1.uid);
      assert.equal(statSync(dir).uid, c.uid);
      // A second registry of the same host (another server) gets none of them while they are held.
      const other = new SessionUids({ first: 900_000, count: 2, registryDir: join(dir, 'registry') });
      await assert.rejects(other.acquire('d', dir), /no free session uid/);
      await b.release();
      assert.equal((await other.acquire('d', dir)).uid, b.uid);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  // Found by a security review: every root sandbox handed out uids from 200000, so two on one host ran different
  // tenants' kernels under one host uid (shared inotify limits, shared file ownership).
  test('two sandbox processes on one host never share a session uid', async () => {
    const child = spawnSandboxProcess(['ignore', 'inherit', 'pipe']);
    try {
      const childUrl = await listeningUrl(child);
      const mine = await createContext(url, {}, { 'x-ci-session-id': 'uid-here' });
      const theirs = await createContext(childUrl, {}, { 'x-ci-session-id': 'uid-there' });
      const uidOf = async (base: string, context: string, session: string) => {
        const run = await execute(
          base,
          { code: 'import os\nprint(os.stat("/proc/self").st_uid, os.getuid())', context_id: context },
          {
            'x-ci-session-id': session,
          },
        );
        assert.equal(run.error, undefined, run.error?.traceback?.toString());
        return run.stdout;
      };
      assert.equal(await uidOf(url, mine, 'uid-here'), '1000 1000\n');
      assert.equal(await uidOf(childUrl, theirs, 'uid-there'), '1000 1000\n');
      // Inside, both are 1000 (their own user namespaces): the host uids are what must differ.
      const hostUids = (root: number, exclude: number[] = []) => {
        const excluded = new Set(exclude.flatMap((pid) => [pid, ...descendants(pid)]));
        const uids = new Set<number>();
        for (const pid of descendants(root)) {
          if (excluded.has(pid)) continue;
          const match = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
          if (match && match[1] !== '0') uids.add(Number(match[1]));
        }
        return uids;
      };
      const here = hostUids(process.pid, [child.pid!]);
      const there = hostUids(child.pid!);
      assert.ok(here.size >= 1 && there.size >= 1, `both run kernels under session uids: ${[...here]} / ${[...there]}`);
      for (const uid of there) assert.ok(!here.has(uid), `uid ${uid} runs kernels of both sandboxes`);
      assert.equal((await request(url, 'DELETE', `/contexts/${mine}`, undefined, { 'x-ci-session-id': 'uid-here' })).status, 200);
    } finally {
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
    }
  });
});

describe("the jail: the kernel's sockets", () => {
  let hostSocketDir: string;
  let hostServer: Server;
  let connections = 0;
  before(async () => {
    hostSocketDir = await mkdtemp(join(tmpdir(), 'host-socket-'));
    hostServer = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => hostServer.listen(join(hostSocketDir, 'host.sock'), resolve));
  });
  after(async () => {
    await new Promise((resolve) => hostServer.close(resolve));
    await rm(hostSocketDir, { recursive: true, force: true });
  });

  test('code can neither remove nor replace its sockets; a dropped connection is a dead kernel, never a reconnect', async () => {
    const context = await createContext(url, {}, A);
    const target = join(hostSocketDir, 'host.sock');
    const tamper = await execute(
      url,
      {
        context_id: context,
        code:
          'import os, errno\n' +
          'out = []\n' +
          'for name in sorted(os.listdir("/run/kernel")) if os.access("/run/kernel", os.R_OK) else []:\n' +
          '    path = os.path.join("/run/kernel", name)\n' +
          '    try:\n' +
          '        os.unlink(path)\n' +
          `        os.symlink(${JSON.stringify(target)}, path)\n` +
          '        out.append(name + " replaced")\n' +
          '    except OSError as e:\n' +
          '        out.append(name + " " + errno.errorcode[e.errno])\n' +
          'print(out)',
      },
      A,
    );
    assert.equal(tamper.error, undefined, tamper.error?.traceback?.toString());
    assert.doesNotMatch(tamper.stdout, /replaced/);
    // Drop every connection the kernel has (closing its sockets' fds): the kernel is lost.
    const dropped = await execute(
      url,
      {
        context_id: context,
        code:
          'import os, stat\n' +
          'for fd in range(3, 1024):\n' +
          '    try:\n' +
          '        if stat.S_ISSOCK(os.fstat(fd).st_mode): os.close(fd)\n' +
          '    except OSError:\n' +
          '        pass\n' +
          'import time\n' +
          'time.sleep(600)',
        timeout: 60,
      },
      A,
    );
    assert.equal(dropped.status, 200);
    assert.equal(dropped.error?.name, 'KernelDiedError', JSON.stringify(dropped.error));
    const after = await execute(url, { context_id: context, code: '40 + 2' }, A);
    assert.equal(after.results[0]?.text, '42', JSON.stringify(after.error));
    assert.equal(connections, 0, 'the server connected to the host socket the code chose');
  });
});

/** `npm run sandbox`'s entry as a process of its own, on a free port, without spare kernels; stderr must be a pipe. */
function spawnSandboxProcess(stdio: Array<'ignore' | 'pipe' | 'inherit'>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'handlers/sandbox.ts'], {
    env: { ...process.env, SANDBOX_PORT: '0', SANDBOX_POOL_SIZE: '0' },
    stdio,
  });
}

describe('the jail: what reaches the kernel from the host', () => {
  test('fds the server inherited do not reach any process of the jail', async () => {
    // A server started with an extra inherited socket (as a supervisor or test runner may leave
    // one). Above 15: Node marks fds up to the first gap after 15 close-on-exec at start, not beyond.
    const FD = 40;
    const stdio: Array<'ignore' | 'pipe' | 'inherit'> = ['ignore', 'inherit', 'pipe'];
    while (stdio.length < FD) stdio.push('ignore');
    stdio.push('pipe');
    const child = spawnSandboxProcess(stdio);
    try {
      const childUrl = await listeningUrl(child);
      const inherited = readlinkSync(`/proc/${child.pid}/fd/${FD}`);
      assert.match(inherited, /^(pipe|socket):/);
      const listing = await execute(childUrl, {
        code:
          'import os, json\n' +
          'def target(pid, fd):\n' +
          '    try:\n' +
          '        return os.readlink(f"/proc/{pid}/fd/{fd}")\n' +
          '    except OSError:\n' +
          '        return "gone"  # e.g. the fd listdir itself used\n' +
          'fds = {}\n' +
          'for pid in [p for p in os.listdir("/proc") if p.isdigit()]:\n' +
          '    try:\n' +
          '        fds[pid] = {fd: target(pid, fd) for fd in os.listdir(f"/proc/{pid}/fd")}\n' +
          '    except OSError:\n' +
          '        pass\n' +
          'print(json.dumps(fds))',
      });
      assert.equal(listing.error, undefined, listing.error?.traceback?.toString());
      const fds = JSON.parse(listing.stdout) as Record<string, Record<string, string>>;
      assert.ok(fds['1'] && fds['2'], listing.stdout);
      for (const [pid, table] of Object.entries(fds)) {
        for (const [fd, target] of Object.entries(table)) assert.notEqual(target, inherited, `pid ${pid} fd ${fd}`);
      }
      // bwrap's init (pid 1) keeps 0-2 and its own eventfd, nothing else.
      for (const [fd, target] of Object.entries(fds['1']!)) {
        assert.ok(Number(fd) <= 2 || target.startsWith('anon_inode:'), `pid 1 fd ${fd}: ${target}`);
      }
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  });

  // pid 1 inside is bwrap's init, a copy of the bwrap the server ran: its command line was every
  // --bind of the host. The arguments now reach bwrap through a pipe (--args).
  test('no command line inside names a host path: not the workspace root, the run root or the project', async () => {
    const hostPaths = [sandbox.workspaceRoot, join(sandbox.workspaceRoot, 'run'), process.cwd(), realpathSync(process.cwd())];
    const readAll = {
      python:
        'import os, json\n' +
        'out = {}\n' +
        'for pid in [p for p in os.listdir("/proc") if p.isdigit()]:\n' +
        '    try:\n' +
        '        out[pid] = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace").replace("\\0", " ")\n' +
        '    except OSError:\n' +
        '        pass\n' +
        'print(json.dumps(out))',
      deno:
        'const out = {};\n' +
        'for (const entry of Deno.readDirSync("/proc")) {\n' +
        '  if (!/^\\d+$/.test(entry.name)) continue;\n' +
        '  try { out[entry.name] = Deno.readTextFileSync("/proc/" + entry.name + "/cmdline").replaceAll("\\0", " "); } catch {}\n' +
        '}\n' +
        'console.log(JSON.stringify(out));',
    };
    for (const [language, context] of [
      ['python', python],
      ['deno', deno],
    ] as const) {
      const run = await execute(url, { code: readAll[language], context_id: context }, A);
      assert.equal(run.error, undefined, JSON.stringify(run.error));
      const lines = JSON.parse(run.stdout) as Record<string, string>;
      assert.match(lines['1'] ?? '', /bwrap/, `${language}: pid 1 is bwrap's init`);
      assert.ok(Object.keys(lines).length >= 2, run.stdout);
      for (const [pid, line] of Object.entries(lines)) {
        for (const path of hostPaths) assert.ok(!line.includes(path), `${language}: /proc/${pid}/cmdline names ${path}: ${line}`);
      }
    }
  });

  test('mountinfo names no project path (the deno binary is bound from a neutral name)', async () => {
    const denoDir = dirname(realpathSync(resolveDenoBinary()));
    for (const context of [python, deno]) {
      const code =
        context === python ? 'print(open("/proc/self/mountinfo").read())' : 'console.log(Deno.readTextFileSync("/proc/self/mountinfo"))';
      const run = await execute(url, { code, context_id: context }, A);
      assert.equal(run.error, undefined);
      assert.ok(!run.stdout.includes(process.cwd()), run.stdout);
      assert.ok(!run.stdout.includes(denoDir), run.stdout);
    }
  });

  test("mountinfo does not name the workspace root, but for the line of Deno's binary", async (t) => {
    if (process.getuid?.() !== 0) return t.skip('only a root server can make the run root a filesystem of its own');
    for (const context of [python, deno]) {
      const code =
        context === python ? 'print(open("/proc/self/mountinfo").read())' : 'console.log(Deno.readTextFileSync("/proc/self/mountinfo"))';
      const run = await execute(url, { code, context_id: context }, A);
      assert.match(
        run.stdout,
        / - tmpfs fc-sandbox-run /,
        "the run directory (or Deno's connection file) is bound from the run root's tmpfs",
      );
      const naming = run.stdout.split('\n').filter((line) => line.includes(sandbox.workspaceRoot));
      // A bind shows its source's path in its filesystem; Deno's binary is a hard link on the host's disk (docs/security.md).
      const allowed = context === deno ? naming.filter((line) => !/ \/opt\/deno\/deno /.test(line)) : naming;
      assert.deepEqual(allowed, [], run.stdout);
    }
  });
});

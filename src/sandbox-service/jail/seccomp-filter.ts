/**
 * The seccomp filter every kernel runs under, in the spirit of Docker's default
 * profile: the calls most kernel privilege escalations went through fail with EPERM
 * (clone3 with ENOSYS, so libc falls back to clone, whose flags a filter can see).
 *
 * The BPF is built once per sandbox by libseccomp's own Python bindings (Debian's
 * python3-seccomp) rather than hand-written: libseccomp resolves syscall numbers,
 * checks the architecture (calls through another ABI, e.g. i386's int 0x80, kill the
 * process) and orders the rules. bwrap loads it with `--seccomp FD` just before it
 * runs the command, after its own set-up.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

export interface SeccompFilters {
  /** BPF file for a jail whose set-up needs nothing the filter denies (Python). */
  code: string;
  /**
   * The same filter with umount2 allowed: Deno's launcher unmounts its socket folder
   * with CAP_SYS_ADMIN before the kernel starts. Everything after that step runs with
   * no capabilities at all, so umount2 fails for the code anyway (EPERM).
   */
  codeWithUmount: string;
}

const PYTHON = '/usr/bin/python3';

/**
 * EPERM for each; the list follows Docker's default profile where it denies outright or
 * grants only with a capability a kernel never has (kcmp, pidfd_getfd, process_madvise:
 * CAP_SYS_PTRACE; mbind, migrate_pages, move_pages: CAP_SYS_NICE; modify_ldt: never).
 */
const DENIED = [
  'acct',
  'add_key',
  'bpf',
  'clock_adjtime',
  'clock_settime',
  'create_module',
  'delete_module',
  'finit_module',
  'fsconfig',
  'fsmount',
  'fsopen',
  'fspick',
  'get_kernel_syms',
  'init_module',
  'ioperm',
  'iopl',
  'kexec_file_load',
  'kexec_load',
  'kcmp',
  'keyctl',
  'lookup_dcookie',
  'mbind',
  'migrate_pages',
  'modify_ldt',
  'mount',
  'mount_setattr',
  'move_mount',
  'move_pages',
  'name_to_handle_at',
  'nfsservctl',
  'open_by_handle_at',
  'open_tree',
  'perf_event_open',
  'pidfd_getfd',
  'pivot_root',
  'process_madvise',
  'process_vm_readv',
  'process_vm_writev',
  'ptrace',
  'query_module',
  'quotactl',
  'reboot',
  'request_key',
  'setns',
  'set_mempolicy_home_node',
  'settimeofday',
  'swapoff',
  'swapon',
  'syslog',
  'umount2',
  'unshare',
  'uselib',
  'userfaultfd',
  'vhangup',
];
/** ENOSYS: callers fall back (libc's clone3 → clone; io_uring users → epoll). */
const UNAVAILABLE = ['clone3', 'io_uring_setup', 'io_uring_enter', 'io_uring_register'];
/**
 * socket() families a kernel needs: unix (ZeroMQ's ipc, socketpair), inet and inet6 (loopback,
 * and the network where allowed), netlink (glibc's getaddrinfo and getifaddrs, Deno's
 * networkInterfaces) with NETLINK_ROUTE only. Every other family fails as unsupported
 * (EAFNOSUPPORT): the network namespace does not confine vsock (the hypervisor), packet, alg,
 * bluetooth or key sockets, and a kernel has no use for them. Other netlink protocols
 * (sock_diag, uevent, audit) fail with EPROTONOSUPPORT.
 */
const SOCKET_FAMILIES = { unix: 1, inet: 2, inet6: 10, netlink: 16 };
const NETLINK_ROUTE = 0;
/**
 * personality() values allowed, as in Docker's profile: PER_LINUX, PER_LINUX32 (setarch i686),
 * UNAME26 with either, and the query (0xffffffff). Others (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC)
 * weaken what the next exec gets: EPERM.
 */
const PERSONAS = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

/**
 * clone with any of these flags fails with EPERM (CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET).
 * CLONE_NEWTIME (0x80) is clone3/unshare only: in clone's flags that bit is part of the exit signal.
 */
const NAMESPACE_FLAGS = [0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000];

/**
 * deny_except: libseccomp allows one comparison per argument in a rule, so "the argument is
 * none of these values" becomes rules over aligned blocks (value under a mask) that together
 * cover every 64-bit value but the allowed ones, plus one for everything above them. Exact,
 * also for high bits a caller sets (the kernel reads an int; the filter sees 64 bits).
 */
const SCRIPT = `
import errno, json, sys, seccomp
spec = json.loads(sys.argv[1])
def deny_except(f, action, name, arg, allowed):
    width = max(allowed).bit_length()
    f.add_rule(action, name, seccomp.Arg(arg, seccomp.GE, 1 << width))
    def walk(prefix, bit, values):
        for b in ((0, 1) if bit >= 0 else ()):
            block = prefix | (b << bit)
            inside = [v for v in values if (v >> bit) & 1 == b]
            if inside:
                walk(block, bit - 1, inside)
            else:
                f.add_rule(action, name, seccomp.Arg(arg, seccomp.MASKED_EQ, ((1 << 64) - 1) ^ ((1 << bit) - 1), block))
    walk(0, width - 1, allowed)
for path, allow in ((spec["code"], []), (spec["codeWithUmount"], ["umount2"])):
    f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in spec["denied"]:
        if name not in allow:
            f.add_rule(seccomp.ERRNO(errno.EPERM), name)
    for name in spec["unavailable"]:
        f.add_rule(seccomp.ERRNO(errno.ENOSYS), name)
    for flag in spec["namespaceFlags"]:
        f.add_rule(seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    deny_except(f, seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", 0, sorted(spec["socketFamilies"]))
    netlink = seccomp.Arg(0, seccomp.EQ, spec["netlink"])
    f.add_rule(seccomp.ERRNO(errno.EPROTONOSUPPORT), "socket", netlink, seccomp.Arg(2, seccomp.NE, spec["netlinkRoute"]))
    deny_except(f, seccomp.ERRNO(errno.EPERM), "personality", 0, sorted(spec["personas"]))
    with open(path, "wb") as out:
        f.export_bpf(out)
`;

/** Writes both filters into `dir` (which must exist) and returns their paths. */
export async function buildSeccompFilters(dir: string): Promise<SeccompFilters> {
  const filters: SeccompFilters = { code: join(dir, 'seccomp.bpf'), codeWithUmount: join(dir, 'seccomp-umount.bpf') };
  const spec = {
    ...filters,
    denied: DENIED,
    unavailable: UNAVAILABLE,
    namespaceFlags: NAMESPACE_FLAGS,
    socketFamilies: Object.values(SOCKET_FAMILIES),
    netlink: SOCKET_FAMILIES.netlink,
    netlinkRoute: NETLINK_ROUTE,
    personas: PERSONAS,
  };
  try {
    await promisify(execFile)(PYTHON, ['-I', '-c', SCRIPT, JSON.stringify(spec)], { env: {} });
  } catch (error) {
    const detail = (error as { stderr?: string }).stderr?.trim().split('\n').at(-1) ?? (error as Error).message;
    throw new Error(`cannot build the sandbox's seccomp filter with ${PYTHON} and python3-seccomp (run infra/setup-sandbox.sh): ${detail}`);
  }
  return filters;
}

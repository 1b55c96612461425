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

/** EPERM for each; the list follows Docker's default profile where it denies outright. */
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
  'keyctl',
  'lookup_dcookie',
  'mount',
  'mount_setattr',
  'move_mount',
  'name_to_handle_at',
  'nfsservctl',
  'open_by_handle_at',
  'open_tree',
  'perf_event_open',
  'pivot_root',
  'process_vm_readv',
  'process_vm_writev',
  'ptrace',
  'query_module',
  'quotactl',
  'reboot',
  'request_key',
  'setns',
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
 * clone with any of these flags fails with EPERM (CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET).
 * CLONE_NEWTIME (0x80) is clone3/unshare only: in clone's flags that bit is part of the exit signal.
 */
const NAMESPACE_FLAGS = [0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000];

const SCRIPT = `
import errno, json, sys, seccomp
spec = json.loads(sys.argv[1])
for path, allow in ((spec["code"], []), (spec["codeWithUmount"], ["umount2"])):
    f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in spec["denied"]:
        if name not in allow:
            f.add_rule(seccomp.ERRNO(errno.EPERM), name)
    for name in spec["unavailable"]:
        f.add_rule(seccomp.ERRNO(errno.ENOSYS), name)
    for flag in spec["namespaceFlags"]:
        f.add_rule(seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    with open(path, "wb") as out:
        f.export_bpf(out)
`;

/** Writes both filters into `dir` (which must exist) and returns their paths. */
export async function buildSeccompFilters(dir: string): Promise<SeccompFilters> {
  const filters: SeccompFilters = { code: join(dir, 'seccomp.bpf'), codeWithUmount: join(dir, 'seccomp-umount.bpf') };
  const spec = { ...filters, denied: DENIED, unavailable: UNAVAILABLE, namespaceFlags: NAMESPACE_FLAGS };
  try {
    await promisify(execFile)(PYTHON, ['-I', '-c', SCRIPT, JSON.stringify(spec)], { env: {} });
  } catch (error) {
    const detail = (error as { stderr?: string }).stderr?.trim().split('\n').at(-1) ?? (error as Error).message;
    throw new Error(`cannot build the sandbox's seccomp filter with ${PYTHON} and python3-seccomp (run infra/setup-sandbox.sh): ${detail}`);
  }
  return filters;
}

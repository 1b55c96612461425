/**
 * Egress for a jail with the network allowed, without sharing the host's network namespace:
 * every jail keeps a network namespace of its own (its loopback, its abstract unix sockets,
 * its /proc/net), and slirp4netns (Debian's package, a user-space TCP/IP stack) gives it a
 * tap device whose traffic leaves through ordinary sockets of the host. So a kernel's
 * channels (Deno listens on TCP) are out of reach of every other context in every mode.
 *
 * What code gets: 10.0.2.100/24 on tap0, the gateway 10.0.2.2, slirp's DNS forwarder at
 * 10.0.2.3; outbound TCP and UDP to any address the host reaches, except the host's own
 * loopback (--disable-host-loopback: the sandbox's API, the MCP server and anything else
 * bound to 127.0.0.1 on the host stay unreachable). Nothing can connect in.
 *
 * slirp4netns must join the user namespace that owns the jail's network namespace. bwrap's
 * --disable-userns puts the jail's processes in a nested user namespace, which does not own
 * it, so a tiny Python step asks the kernel for the owner (NS_GET_USERNS) and hands both
 * namespaces to slirp4netns as fds. It exits when the jail's init is gone (we kill it) or
 * when the server is (its --exit-fd is a pipe the server holds).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

const PYTHON = '/usr/bin/python3';
export const SLIRP4NETNS = '/usr/bin/slirp4netns';

/** fds of slirp4netns: 3 ends it when the server's end closes, 4 says the network is configured. */
const JOIN_AND_EXEC = `
import fcntl, os, sys
NS_GET_USERNS = 0xb701
net = os.open(sys.argv[1], os.O_RDONLY)
owner = fcntl.ioctl(net, NS_GET_USERNS)
os.set_inheritable(net, True)
os.set_inheritable(owner, True)
os.execv(sys.argv[2], [sys.argv[2], "--configure", "--mtu=65520", "--disable-host-loopback",
    "--enable-sandbox", "--enable-seccomp", "--exit-fd=3", "--ready-fd=4", "--netns-type=path",
    f"--userns-path=/proc/self/fd/{owner}", f"/proc/self/fd/{net}", "tap0"])
`;

export interface PrivateNetwork {
  /** Resolves once the jail's tap0 is up; rejects, saying why, if slirp4netns failed. */
  ready: Promise<void>;
  /** Ends slirp4netns (safe to call twice). */
  close(): void;
}

/**
 * Gives the network namespace of `pid` (the jail's init) a way out through slirp4netns, once
 * bwrap has set the namespace up: bwrap reports its init before it configures the namespace's
 * loopback, and slirp4netns configuring the same namespace meanwhile made bwrap die
 * (RTM_NEWADDR) under load.
 */
export function attachNetwork(pid: number): PrivateNetwork {
  let closed = false;
  let close = () => {};
  const ready = afterSetup(pid).then(() => {
    if (closed) throw new Error('the jail ended before its network was up');
    const slirp = startSlirp(pid);
    close = slirp.close;
    return slirp.ready;
  });
  ready.catch(() => {});
  return {
    ready,
    close() {
      closed = true;
      close();
    },
  };
}

/** The longest the network waits for bwrap to finish setting up the jail's namespaces. */
const SETUP_WAIT_MS = 10_000;

/**
 * Resolves once bwrap's init (`pid`) has a child: it forks the command only when the namespaces
 * are set up (loopback included). Resolves too when the init is gone (slirp4netns then says
 * so) or after SETUP_WAIT_MS, so a slow setup costs time, never a hang.
 */
async function afterSetup(pid: number): Promise<void> {
  const deadline = Date.now() + SETUP_WAIT_MS;
  for (let pause = 1; Date.now() < deadline; pause = Math.min(pause * 2, 20)) {
    try {
      if (readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim() !== '') return;
    } catch {
      return; // gone
    }
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}

function startSlirp(pid: number): PrivateNetwork {
  const child = spawn(PYTHON, ['-I', '-c', JOIN_AND_EXEC, `/proc/${pid}/ns/net`, SLIRP4NETNS], {
    env: {},
    stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
    // A group of its own, ended whole by close(); the server's death ends it through --exit-fd.
    detached: true,
  });
  let tail = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-2048);
  });
  const exitPipe = child.stdio[3] as NodeJS.ReadableStream;
  exitPipe.on('error', () => {});
  const readyPipe = child.stdio[4] as NodeJS.ReadableStream;
  readyPipe.on('error', () => {});
  const ready = new Promise<void>((resolve, reject) => {
    readyPipe.once('data', () => resolve());
    child.once('exit', (code, signal) =>
      reject(new Error(`slirp4netns ended before the network was up (${signal ?? `exit code ${code}`}): ${tail.trim()}`)),
    );
    child.once('error', reject);
  });
  ready.catch(() => {});
  return {
    ready,
    close() {
      if (child.exitCode === null && child.signalCode === null) {
        // Its group: slirp4netns forks a helper that enters the namespace, which can outlive it.
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }
      // Our ends of its pipes: a helper still holding theirs must not keep this process alive.
      for (const stream of [child.stderr, exitPipe, readyPipe]) (stream as NodeJS.ReadableStream & { destroy(): void }).destroy();
    },
  };
}

/**
 * The unprivileged host uids a root server runs its jails under: one per session
 * (a session's contexts share its workspace, so they share its uid), taken from a
 * reserved range while any kernel of the session lives and given back after its
 * last one ends. So a root server's kernels are never host root, files the code
 * writes belong to its session's uid, and per-uid limits separate sessions.
 *
 * Unique per host, not per server: two sandboxes on one host (two `npm start`s, the
 * tests beside a server) must never hand one uid to two tenants, who would then share
 * per-uid kernel limits (inotify instances) and file ownership. The registry is a lock
 * file per uid under /run (a tmpfs: a reboot empties it), held with flock(2) on an open
 * file description the server keeps for as long as the session holds the uid. The
 * kernel releases the lock when that fd is closed, also when the server dies, so a dead
 * server's uids come back without any pid bookkeeping. A uid that still owns a live
 * process (left by something else) is skipped.
 *
 * A session's end ends every process of its uid (endProcesses): without the jail's pid
 * namespace, a process that left its kernel's group (`setsid`, a shell's background job)
 * would otherwise outlive its tenant and watch the next one. The lock is held until none is
 * left, so the uid goes to no other session before.
 */
import { execFile, spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { chmod, type FileHandle, mkdir, open, readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';

/** Above the usual subordinate-id ranges of /etc/subuid (100000-165535) and systemd's dynamic users. */
export const FIRST_SESSION_UID = 200_000;
export const SESSION_UID_COUNT = 65_536;
/** Shared by every sandbox of the host. */
export const UID_REGISTRY_DIR = '/run/fc-sandbox-uids';

export interface SessionUidsSettings {
  /** The first uid of the range (SANDBOX_UID_BASE). */
  first?: number;
  count?: number;
  /** Where the per-uid lock files live; the same for every sandbox of a host. */
  registryDir?: string;
}

export interface SessionUidLease {
  uid: number;
  /** SIGKILLs every process of the uid (its session's end: nothing of it may outlive it). */
  endProcesses(): Promise<void>;
  /**
   * Gives the lease back; the uid is free again once every lease of its session is, and
   * once no process of the uid is left (the last release ends them first).
   */
  release(): Promise<void>;
}

interface Holder {
  uid: number;
  leases: number;
  /** The uid's lock file, flocked: closing it gives the uid back to the host. */
  lock: FileHandle;
  /** The workspace handed over to the uid (settles once, for every lease). */
  ready: Promise<void>;
}

export class SessionUids {
  readonly #bySession = new Map<string, Holder>();
  readonly #first: number;
  readonly #count: number;
  readonly #dir: string;
  /** Where the next search starts: round the range, so a uid just given back is not the next one taken. */
  #cursor = 0;
  /** Uids given back whose processes are still being ended: not claimed again meanwhile. */
  readonly #draining = new Set<number>();
  /** Claims run one at a time: two claims of this server must not race for the same lock file. */
  #claiming: Promise<unknown> = Promise.resolve();

  constructor({ first = FIRST_SESSION_UID, count = SESSION_UID_COUNT, registryDir = UID_REGISTRY_DIR }: SessionUidsSettings = {}) {
    this.#first = first;
    this.#count = count;
    this.#dir = registryDir;
  }

  /**
   * The session's uid, its workspace (and everything in it) owned by that uid, mode 0700.
   * A uid freed earlier may come back to another session: by then no process of the old
   * session is left (its kernels are gone) and its workspace is chowned to its next uid.
   */
  async acquire(session: string, workspace: string): Promise<SessionUidLease> {
    let holder = this.#bySession.get(session);
    if (!holder) {
      const claim = this.#claiming.then(() => this.#claim());
      this.#claiming = claim.catch(() => undefined);
      const { uid, lock } = await claim;
      // Another lease of the same session may have claimed meanwhile: keep one.
      holder = this.#bySession.get(session);
      if (holder) await lock.close();
      else {
        holder = { uid, lock, leases: 0, ready: handOver(workspace, uid) };
        this.#bySession.set(session, holder);
      }
    }
    const held = holder;
    held.leases++;
    let released: Promise<void> | undefined;
    const release = () =>
      (released ??= (async () => {
        if (--held.leases > 0 || this.#bySession.get(session) !== held) return;
        this.#bySession.delete(session);
        this.#draining.add(held.uid);
        try {
          await endProcessesOf(held.uid);
        } finally {
          this.#draining.delete(held.uid);
          await held.lock.close().catch(() => undefined);
        }
      })());
    try {
      await held.ready;
    } catch (error) {
      await release();
      throw error;
    }
    return { uid: held.uid, endProcesses: () => endProcessesOf(held.uid), release };
  }

  /** The first uid of the range no sandbox of this host holds and no live process runs as, locked. */
  async #claim(): Promise<{ uid: number; lock: FileHandle }> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const busy = await uidsWithProcesses();
    const mine = new Set([...this.#bySession.values()].map((holder) => holder.uid).concat([...this.#draining]));
    for (let i = 0; i < this.#count; i++) {
      const uid = this.#first + ((this.#cursor + i) % this.#count);
      if (mine.has(uid) || busy.has(uid)) continue;
      const lock = await open(join(this.#dir, String(uid)), constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
      if (await flockNonBlocking(lock)) {
        this.#cursor = (this.#cursor + i + 1) % this.#count;
        return { uid, lock };
      }
      await lock.close();
    }
    throw new Error(`no free session uid left (${this.#count} from ${this.#first}, host-wide)`);
  }
}

/**
 * flock(LOCK_EX | LOCK_NB) on the handle's open file description, by util-linux's flock on
 * an inherited fd (Node has no flock): the lock belongs to the description, which stays
 * open in this process after flock exits. True when this process now holds it.
 */
function flockNonBlocking(handle: FileHandle): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/flock', ['--exclusive', '--nonblock', '3'], { env: {}, stdio: ['ignore', 'ignore', 'pipe', handle.fd] });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolve(true);
      else if (code === 1) resolve(false);
      else reject(new Error(`flock failed (${code}): ${stderr.trim()}`));
    });
  });
}

/**
 * The uids (real, effective, saved, filesystem) of every live process on the host right now,
 * by pid. From /proc/<pid>/status: a non-dumpable process shows root as the owner of /proc/<pid>.
 */
async function processUids(): Promise<Map<number, number[]>> {
  const byPid = new Map<number, number[]>();
  const pids = (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry));
  await Promise.all(
    pids.map((pid) =>
      readFile(`/proc/${pid}/status`, 'utf8').then(
        (status) => {
          if (/^State:\s+Z/m.test(status)) return; // ended, waiting for its parent
          const uids = /^Uid:\s+(.*)$/m.exec(status)?.[1];
          if (uids) byPid.set(Number(pid), uids.trim().split(/\s+/).map(Number));
        },
        () => undefined,
      ),
    ),
  );
  return byPid;
}

/**
 * The uids that own a live process on the host right now, by the owner of /proc/<pid> (a stat
 * each: a quarter of the cost of reading every status file, on the way to a new session). A
 * non-dumpable process shows as root there; this server's own sessions cannot leave one behind
 * (their uid is held until endProcessesOf has found none left), only a server killed outright could.
 */
async function uidsWithProcesses(): Promise<Set<number>> {
  const uids = new Set<number>();
  const pids = (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry));
  await Promise.all(
    pids.map((pid) =>
      stat(`/proc/${pid}`).then(
        (entry) => uids.add(entry.uid),
        () => undefined,
      ),
    ),
  );
  return uids;
}

/** How long ending a uid's processes may take before it is reported as failed (a fork bomb stops at the pids limit). */
const END_PROCESSES_MS = 10_000;

/**
 * SIGKILLs every process of `uid`, until none is left. `kill(-1)` sent as the uid itself reaches
 * every process it may signal (its own: same real or saved uid) in one pass the kernel makes
 * under its task list lock, so a process forking meanwhile cannot slip past; the rounds only
 * wait for the dying to go.
 */
export async function endProcessesOf(uid: number): Promise<void> {
  const deadline = Date.now() + END_PROCESSES_MS;
  for (;;) {
    const left = [...(await processUids()).entries()].filter(([, uids]) => uids.includes(uid)).map(([pid]) => pid);
    if (left.length === 0) return;
    if (Date.now() > deadline) throw new Error(`processes of uid ${uid} outlived its session's end: ${left.join(', ')}`);
    const id = String(uid);
    await promisify(execFile)('/usr/bin/setpriv', ['--reuid', id, '--regid', id, '--clear-groups', '--', '/bin/kill', '-KILL', '-1'], {
      env: {},
    }).catch(() => undefined); // "no such process" for the last of them: the next round looks again
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Throws unless an unprivileged uid can pass through every directory above `dir` (o+x):
 * a root server's jails, started under session uids, bind their workspaces from below it.
 */
export async function assertSearchableByOthers(dir: string): Promise<void> {
  for (let at = resolve(dir); ; at = dirname(at)) {
    if (((await stat(at)).mode & 0o001) === 0) {
      throw new Error(
        `${at} must be searchable by others (chmod o+x): a root server's kernels run under unprivileged uids and bind their workspaces from ${dir}`,
      );
    }
    if (at === dirname(at)) return;
  }
}

/** `chown -R` never follows symlinks the code may have planted (-P is its default, spelled out). */
async function handOver(workspace: string, uid: number): Promise<void> {
  await promisify(execFile)('/bin/chown', ['-R', '-P', `${uid}:${uid}`, workspace], { env: {} });
  await chmod(workspace, 0o700);
}

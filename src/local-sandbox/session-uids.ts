/**
 * The unprivileged host uids a root server runs its jails under: one per session
 * (a session's contexts share its workspace, so they share its uid), taken from a
 * reserved range while any kernel of the session lives and given back after its
 * last one ends. So a root server's kernels are never host root, files the code
 * writes belong to its session's uid, and per-uid limits separate sessions.
 */
import { execFile } from 'node:child_process';
import { chmod, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { promisify } from 'node:util';

/** Above the usual subordinate-id ranges of /etc/subuid (100000-165535) and systemd's dynamic users. */
export const FIRST_SESSION_UID = 200_000;
export const SESSION_UID_COUNT = 65_536;

export interface SessionUidLease {
  uid: number;
  /** Gives the lease back; the uid is free again once every lease of its session is. */
  release(): void;
}

interface Holder {
  uid: number;
  leases: number;
  /** The workspace handed over to the uid (settles once, for every lease). */
  ready: Promise<void>;
}

export class SessionUids {
  readonly #bySession = new Map<string, Holder>();
  readonly #free: number[] = [];
  #next: number;
  readonly #end: number;

  constructor(first = FIRST_SESSION_UID, count = SESSION_UID_COUNT) {
    this.#next = first;
    this.#end = first + count;
  }

  /**
   * The session's uid, its workspace (and everything in it) owned by that uid, mode 0700.
   * A uid freed earlier may come back to another session: by then no process of the old
   * session is left (its kernels are gone) and its workspace is chowned to its next uid.
   */
  async acquire(session: string, workspace: string): Promise<SessionUidLease> {
    let holder = this.#bySession.get(session);
    if (!holder) {
      const uid = this.#free.shift() ?? this.#next++;
      if (uid >= this.#end) throw new Error(`no free session uid left (${SESSION_UID_COUNT} sessions run at once)`);
      holder = { uid, leases: 0, ready: handOver(workspace, uid) };
      this.#bySession.set(session, holder);
    }
    const held = holder;
    held.leases++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      if (--held.leases > 0 || this.#bySession.get(session) !== held) return;
      this.#bySession.delete(session);
      this.#free.push(held.uid);
    };
    try {
      await held.ready;
    } catch (error) {
      release();
      throw error;
    }
    return { uid: held.uid, release };
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

/**
 * The bytes of `write_file` downloads this process holds at once (MCP_FETCH_MAX_BYTES_IN_FLIGHT).
 * A download is held whole before it goes to the sandbox (write-file.ts says why), so without a
 * bound 20 concurrent 20 MiB downloads took the process from 110 to 959 MB, where FC gives the
 * function 256 MB for every tenant. A download takes its bytes as they arrive (its
 * Content-Length at once when it has one) and gives them back once its upload has ended; one
 * that does not fit is refused, not queued.
 *
 * One per process (createAppDeps makes it), passed down in the tools' deps; a number, nothing
 * about any request.
 */
export interface DownloadBudget {
  /** The most bytes held at once. */
  readonly max: number;
  /** Holds `bytes` more and says true, or holds nothing and says false when that would pass `max`. */
  take(bytes: number): boolean;
  /** Gives back bytes taken. */
  give(bytes: number): void;
  /** The bytes held now. */
  held(): number;
}

export function createDownloadBudget(max: number): DownloadBudget {
  let held = 0;
  return {
    max,
    take(bytes) {
      if (held + bytes > max) return false;
      held += bytes;
      return true;
    },
    give(bytes) {
      held = Math.max(0, held - bytes);
    },
    held: () => held,
  };
}

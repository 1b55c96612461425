/**
 * How the long-running entry points end. On SIGTERM (service managers, container
 * engines and FC stop a process with it, often to its whole process group), SIGINT
 * (Ctrl-C) or SIGHUP (its terminal gone), `stop` runs once, and the process exits with
 * one line saying how it went. Signals arriving meanwhile change nothing. A stop that
 * has not finished within the bound is abandoned and the process exits anyway (its
 * jails die with it: --die-with-parent), so a stop never hangs past what service
 * managers and container engines grant (10 s and more) before their SIGKILL.
 *
 * The handlers must run in the server's own process: `npm start` and friends exec node
 * with tsx as an import, not the `tsx` CLI, whose parent process SIGKILLs its child
 * when the child does not acknowledge a relayed signal within 30 ms (a busy event loop),
 * which cut the stop short and left every workspace mounted.
 */

import type { Logger } from './logger.ts';

export const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
/** The most a stop may take before the process exits regardless. */
export const SHUTDOWN_BOUND_MS = 10_000;

export interface ShutdownOutcome {
  /** The signal, or what else ended the process (e.g. `stdin closed`). */
  cause: string;
  ms: number;
  /** `stopped`: in order; `failed`: stop threw (`error`); `late`: the bound passed first. */
  result: 'stopped' | 'failed' | 'late';
  error?: string;
}

export interface ShutdownOptions {
  /** Writes the one line; default: a plain line on stderr. */
  report?: (outcome: ShutdownOutcome) => void;
  boundMs?: number;
}

/** The plain line, e.g. `stopped on SIGTERM in 1.2 s`. */
export function describeShutdown({ cause, ms, result, error }: ShutdownOutcome): string {
  const took = `${(ms / 1000).toFixed(1)} s`;
  if (result === 'stopped') return `stopped on ${cause} in ${took}`;
  if (result === 'failed') return `stopped on ${cause} in ${took}, with an error: ${error}`;
  return `stopping on ${cause} took longer than ${took}: exiting without waiting`;
}

/**
 * Installs the signal handlers; returns the shutdown itself, for other ends (stdin
 * closing). The process exits with code 0 after a stop in order, 1 otherwise.
 */
export function onShutdown(stop: () => Promise<void>, options: ShutdownOptions = {}): (cause: string) => void {
  const report = options.report ?? ((outcome) => process.stderr.write(`${describeShutdown(outcome)}\n`));
  const boundMs = options.boundMs ?? SHUTDOWN_BOUND_MS;
  let started = false;
  const shutdown = (cause: string) => {
    if (started) return;
    started = true;
    const began = Date.now();
    const finish = (result: ShutdownOutcome['result'], error?: string) => {
      report({ cause, ms: Date.now() - began, result, ...(error === undefined ? {} : { error }) });
      process.exit(result === 'stopped' ? 0 : 1);
    };
    setTimeout(() => finish('late'), boundMs);
    let stopping: Promise<void>;
    try {
      stopping = stop();
    } catch (error) {
      stopping = Promise.reject(error);
    }
    stopping.then(
      () => finish('stopped'),
      (error: unknown) => finish('failed', error instanceof Error ? error.message : String(error)),
    );
  };
  for (const signal of SHUTDOWN_SIGNALS) process.on(signal, () => shutdown(signal));
  return shutdown;
}

/** The one line as a log entry: `stopped` at info, a failed or late stop at warn. */
export function logShutdown(logger: Pick<Logger, 'info' | 'warn'>) {
  return (outcome: ShutdownOutcome): void => {
    const fields = {
      cause: outcome.cause,
      duration_ms: outcome.ms,
      result: outcome.result,
      ...(outcome.error ? { error: outcome.error } : {}),
    };
    if (outcome.result === 'stopped') logger.info(describeShutdown(outcome), fields);
    else logger.warn(describeShutdown(outcome), fields);
  };
}

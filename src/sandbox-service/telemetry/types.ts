/**
 * What the sandbox service's code sees of telemetry (load-telemetry.ts makes one when an OTLP
 * endpoint is set). Type-only, so the service imports no OpenTelemetry code when it is off.
 */
import type { MiddlewareHandler } from 'hono';
import type { CodeContext } from '../contexts/code-context.ts';

export interface SandboxTelemetry {
  /**
   * First on every route: a SERVER span per request continuing the caller's `traceparent`, ended
   * when the answer (execute's stream included) has gone out; refusals counted by route and status.
   */
  readonly traceRequests: MiddlewareHandler;
  /** `context` with its executions traced: the wait for the kernel and the kernel's execution, as spans and metrics. */
  traced(context: CodeContext): Pick<CodeContext, 'execute'>;
  /** A context got a kernel: a pre-started spare (`hit`) or one it had to boot. */
  kernelTaken(hit: boolean): void;
  /**
   * Reads the live figures the gauges report, at each export: contexts, spare kernels, and the
   * memory each context holds (read from /proc then, so only as often as metrics are exported).
   */
  observe(figures: () => { contexts: number; spareKernels: number }, memory?: () => Promise<{ language: string; bytes: number }[]>): void;
  /** Exports what is left (bounded) and stops. */
  shutdown(): Promise<void>;
}

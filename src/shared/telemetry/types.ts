/**
 * What a program holds of OpenTelemetry once sdk.ts has started it: only when settings.ts found
 * something to export. Off, no OpenTelemetry module is imported and the programs pass
 * `undefined` wherever a Telemetry would go. Type-only.
 */
import type { Context, Meter, Tracer } from '@opentelemetry/api';

/** One program's tracer and meter, and the W3C trace context it continues and sends on. */
export interface Telemetry {
  readonly tracer: Tracer;
  readonly meter: Meter;
  /** The context a `traceparent` (and `tracestate`) in `carrier` continues; the root context when there is none or it is malformed. */
  extract(carrier: Readonly<Record<string, unknown>>): Context;
  /** Writes `traceparent` (and `tracestate`) for `context`'s span through `set`. */
  inject(context: Context, set: (name: string, value: string) => void): void;
  /** Exports the spans that are pending, waiting at most settings.flushTimeoutMs; never throws. */
  flush(): Promise<void>;
  /** Exports spans and metrics (bounded as flush) and stops exporting. */
  shutdown(): Promise<void>;
}

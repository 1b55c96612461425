/**
 * Whether and how a program exports telemetry, read from the standard OpenTelemetry
 * variables (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/).
 * Only what decides the SDK's shape is read here; the exporters read the endpoint, headers
 * and timeout themselves, and the resource detector the service name and attributes,
 * all as the specification defines them. Nothing here loads OpenTelemetry: with no endpoint
 * set the programs never import it.
 */
import type { Env } from '../env.ts';

export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

/**
 * The longest an answer waits for its spans to be exported when each answer flushes (FC):
 * a collector that is down or slow costs a call at most this much.
 */
export const DEFAULT_FLUSH_TIMEOUT_MS = 1_000;

/**
 * The most spans waiting for export; past it new spans are dropped (OTEL_BSP_MAX_QUEUE_SIZE,
 * the specification's default), so a collector that is down never grows memory without bound.
 */
export const DEFAULT_MAX_QUEUED_SPANS = 2048;

export interface TelemetrySettings {
  /** OTEL_SERVICE_NAME's default for this program (the resource detector lets the variable win). */
  serviceName: string;
  /** Traces are exported: OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set. */
  traces: boolean;
  /** Metrics are exported: OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is set. */
  metrics: boolean;
  /** OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL. @default 'http/protobuf' */
  tracesProtocol: OtlpProtocol;
  /** OTEL_EXPORTER_OTLP_METRICS_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL. @default 'http/protobuf' */
  metricsProtocol: OtlpProtocol;
  /** OTEL_TRACES_SAMPLER. @default 'parentbased_always_on' */
  sampler: string;
  /** OTEL_TRACES_SAMPLER_ARG: the ratio of the traceidratio samplers. @default 1 */
  samplerRatio: number;
  /** OTEL_METRIC_EXPORT_INTERVAL, ms. @default 60000 */
  metricExportIntervalMs: number;
  /** OTEL_BSP_MAX_QUEUE_SIZE. @default DEFAULT_MAX_QUEUED_SPANS (2048) */
  maxQueuedSpans: number;
  /** OTEL_BSP_SCHEDULE_DELAY, ms: how often queued spans are exported. @default 5000 */
  scheduleDelayMs: number;
  /** The bound on one flush (each answer's on FC, and the one at shutdown). @default DEFAULT_FLUSH_TIMEOUT_MS (1000) */
  flushTimeoutMs: number;
}

export const TRACES_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

/** A setting that cannot be honoured; the programs turn it into their ConfigError. */
export class TelemetrySettingError extends Error {
  override name = 'TelemetrySettingError';
}

function protocolOf(env: Env, name: string): OtlpProtocol {
  const value = (env[name] ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? '').trim() || 'http/protobuf';
  if (!(OTLP_PROTOCOLS as readonly string[]).includes(value)) {
    const which = env[name] ? name : 'OTEL_EXPORTER_OTLP_PROTOCOL';
    throw new TelemetrySettingError(`${which}: must be one of ${OTLP_PROTOCOLS.join(', ')} (got "${value}"; grpc is not supported)`);
  }
  return value as OtlpProtocol;
}

function numberOf(env: Env, name: string, fallback: number, valid: (n: number) => boolean): number {
  const text = env[name]?.trim();
  if (!text) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || !valid(value)) throw new TelemetrySettingError(`${name}: not a valid value (got "${text}")`);
  return value;
}

const set = (env: Env, name: string) => (env[name]?.trim() ?? '') !== '';

/**
 * The settings, or undefined when nothing is to be exported (no endpoint, or OTEL_SDK_DISABLED=true):
 * then the program loads no OpenTelemetry code at all.
 */
export function telemetrySettingsFrom(env: Env, serviceName: string): TelemetrySettings | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  const traces = set(env, 'OTEL_EXPORTER_OTLP_ENDPOINT') || set(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const metrics = set(env, 'OTEL_EXPORTER_OTLP_ENDPOINT') || set(env, 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT');
  if (!traces && !metrics) return undefined;
  const sampler = env.OTEL_TRACES_SAMPLER?.trim() || 'parentbased_always_on';
  if (!(TRACES_SAMPLERS as readonly string[]).includes(sampler)) {
    throw new TelemetrySettingError(`OTEL_TRACES_SAMPLER: must be one of ${TRACES_SAMPLERS.join(', ')} (got "${sampler}")`);
  }
  return {
    serviceName,
    traces,
    metrics,
    tracesProtocol: protocolOf(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'),
    metricsProtocol: protocolOf(env, 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL'),
    sampler,
    samplerRatio: numberOf(env, 'OTEL_TRACES_SAMPLER_ARG', 1, (n) => n >= 0 && n <= 1),
    metricExportIntervalMs: numberOf(env, 'OTEL_METRIC_EXPORT_INTERVAL', 60_000, (n) => n > 0),
    maxQueuedSpans: numberOf(env, 'OTEL_BSP_MAX_QUEUE_SIZE', DEFAULT_MAX_QUEUED_SPANS, (n) => Number.isInteger(n) && n > 0),
    scheduleDelayMs: numberOf(env, 'OTEL_BSP_SCHEDULE_DELAY', 5_000, (n) => n >= 0),
    flushTimeoutMs: DEFAULT_FLUSH_TIMEOUT_MS,
  };
}

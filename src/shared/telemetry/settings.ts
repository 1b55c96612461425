/**
 * Whether and how a program exports telemetry, read from the standard OpenTelemetry
 * variables (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/
 * and the OTLP exporter's https://opentelemetry.io/docs/specs/otel/protocol/exporter/), from the
 * env the program was given. The resource detector reads OTEL_SERVICE_NAME and
 * OTEL_RESOURCE_ATTRIBUTES itself. Nothing here loads OpenTelemetry: with no endpoint set the
 * programs never import it.
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
  /** Where spans go: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, else OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces; undefined: none. */
  tracesUrl?: string;
  /** Where metrics go: OTEL_EXPORTER_OTLP_METRICS_ENDPOINT as given, else OTEL_EXPORTER_OTLP_ENDPOINT + /v1/metrics; undefined: none. */
  metricsUrl?: string;
  /** OTEL_EXPORTER_OTLP_HEADERS (`key=value,…`, values URL-encoded), with the signal's own OTEL_EXPORTER_OTLP_TRACES_HEADERS winning. */
  tracesHeaders: Record<string, string>;
  /** OTEL_EXPORTER_OTLP_HEADERS, with OTEL_EXPORTER_OTLP_METRICS_HEADERS winning. */
  metricsHeaders: Record<string, string>;
  /** OTEL_EXPORTER_OTLP_TIMEOUT, ms: one export request's bound. @default 10000 */
  requestTimeoutMs: number;
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
  /** OTEL_BSP_MAX_EXPORT_BATCH_SIZE: the most spans in one export. @default 512 (at most maxQueuedSpans) */
  maxExportBatchSize: number;
  /** OTEL_BSP_SCHEDULE_DELAY, ms: how often queued spans are exported. @default 5000 */
  scheduleDelayMs: number;
  /** OTEL_BSP_EXPORT_TIMEOUT, ms: how long one export may take before its spans are given up. @default 30000 */
  exportTimeoutMs: number;
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

const text = (env: Env, name: string) => env[name]?.trim() || undefined;

/** A signal's URL: its own variable as given, else the base endpoint with the signal's path. */
function urlOf(env: Env, signal: 'TRACES' | 'METRICS'): string | undefined {
  const own = text(env, `OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`);
  const base = text(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  const url = own ?? (base && `${base.replace(/\/+$/, '')}/v1/${signal.toLowerCase()}`);
  if (url && !URL.canParse(url))
    throw new TelemetrySettingError(`${own ? `OTEL_EXPORTER_OTLP_${signal}_ENDPOINT` : 'OTEL_EXPORTER_OTLP_ENDPOINT'}: not a URL`);
  return url;
}

/** `key=value,…` with URL-encoded values (the W3C baggage format the specification names). */
function headersOf(env: Env, name: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of (text(env, name) ?? '').split(',')) {
    const at = pair.indexOf('=');
    if (pair.trim() === '') continue;
    if (at <= 0) throw new TelemetrySettingError(`${name}: expected key=value pairs separated by commas`);
    headers[decodeURIComponent(pair.slice(0, at).trim())] = decodeURIComponent(pair.slice(at + 1).trim());
  }
  return headers;
}

/**
 * The settings, or undefined when nothing is to be exported (no endpoint, or OTEL_SDK_DISABLED=true):
 * then the program loads no OpenTelemetry code at all.
 */
export function telemetrySettingsFrom(env: Env, serviceName: string): TelemetrySettings | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  const tracesUrl = urlOf(env, 'TRACES');
  const metricsUrl = urlOf(env, 'METRICS');
  if (!tracesUrl && !metricsUrl) return undefined;
  const headers = headersOf(env, 'OTEL_EXPORTER_OTLP_HEADERS');
  const sampler = env.OTEL_TRACES_SAMPLER?.trim() || 'parentbased_always_on';
  if (!(TRACES_SAMPLERS as readonly string[]).includes(sampler)) {
    throw new TelemetrySettingError(`OTEL_TRACES_SAMPLER: must be one of ${TRACES_SAMPLERS.join(', ')} (got "${sampler}")`);
  }
  const maxQueuedSpans = numberOf(env, 'OTEL_BSP_MAX_QUEUE_SIZE', DEFAULT_MAX_QUEUED_SPANS, (n) => Number.isInteger(n) && n > 0);
  return {
    serviceName,
    tracesUrl,
    metricsUrl,
    tracesHeaders: { ...headers, ...headersOf(env, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS') },
    metricsHeaders: { ...headers, ...headersOf(env, 'OTEL_EXPORTER_OTLP_METRICS_HEADERS') },
    requestTimeoutMs: numberOf(env, 'OTEL_EXPORTER_OTLP_TIMEOUT', 10_000, (n) => n > 0),
    tracesProtocol: protocolOf(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'),
    metricsProtocol: protocolOf(env, 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL'),
    sampler,
    samplerRatio: numberOf(env, 'OTEL_TRACES_SAMPLER_ARG', 1, (n) => n >= 0 && n <= 1),
    metricExportIntervalMs: numberOf(env, 'OTEL_METRIC_EXPORT_INTERVAL', 60_000, (n) => n > 0),
    maxQueuedSpans,
    maxExportBatchSize: Math.min(
      maxQueuedSpans,
      numberOf(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 512, (n) => Number.isInteger(n) && n > 0),
    ),
    scheduleDelayMs: numberOf(env, 'OTEL_BSP_SCHEDULE_DELAY', 5_000, (n) => n >= 0),
    exportTimeoutMs: numberOf(env, 'OTEL_BSP_EXPORT_TIMEOUT', 30_000, (n) => n > 0),
    flushTimeoutMs: DEFAULT_FLUSH_TIMEOUT_MS,
  };
}

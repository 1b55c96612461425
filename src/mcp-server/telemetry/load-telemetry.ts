/**
 * `loadMcpTelemetry(env, options)`: the MCP server's telemetry when an OTLP endpoint is set
 * (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), else undefined, and
 * then no OpenTelemetry module is loaded. Handlers call it and pass the result to createAppDeps.
 */
import { ConfigError } from '../../shared/cli.ts';
import type { Env } from '../../shared/env.ts';
import { type TelemetrySettings, TelemetrySettingError, telemetrySettingsFrom } from '../../shared/telemetry/settings.ts';
import type { McpTelemetry, McpTelemetryOptions } from './types.ts';

/** OTEL_SERVICE_NAME's default for the MCP server. */
export const MCP_SERVICE_NAME = 'fc-code-interpreter-mcp';

export function mcpTelemetrySettings(env: Env): TelemetrySettings | undefined {
  try {
    return telemetrySettingsFrom(env, MCP_SERVICE_NAME);
  } catch (error) {
    if (error instanceof TelemetrySettingError) throw new ConfigError(error.message);
    throw error;
  }
}

export async function loadMcpTelemetry(env: Env, options: McpTelemetryOptions = {}): Promise<McpTelemetry | undefined> {
  const settings = mcpTelemetrySettings(env);
  if (!settings) return undefined;
  const [{ startTelemetry }, { createMcpTelemetry }] = await Promise.all([
    import('../../shared/telemetry/sdk.ts'),
    import('./mcp-telemetry.ts'),
  ]);
  return createMcpTelemetry(await startTelemetry(settings), options);
}

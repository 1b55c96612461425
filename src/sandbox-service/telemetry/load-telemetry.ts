/**
 * `loadSandboxTelemetry(env)`: the sandbox service's telemetry when an OTLP endpoint is set, else
 * undefined, and then no OpenTelemetry module is loaded. handlers/sandbox.ts and npm start's
 * own sandbox service pass it to startSandbox.
 */
import type { Env } from '../../shared/env.ts';
import { telemetrySettingsFrom } from '../../shared/telemetry/settings.ts';
import type { SandboxTelemetry } from './types.ts';

/** OTEL_SERVICE_NAME's default for the sandbox service. */
export const SANDBOX_SERVICE_NAME = 'fc-code-interpreter-sandbox';

/** Throws TelemetrySettingError for a setting it cannot honour. */
export async function loadSandboxTelemetry(env: Env): Promise<SandboxTelemetry | undefined> {
  const settings = telemetrySettingsFrom(env, SANDBOX_SERVICE_NAME);
  if (!settings) return undefined;
  const [{ startTelemetry }, { createSandboxTelemetry }] = await Promise.all([
    import('../../shared/telemetry/sdk.ts'),
    import('./sandbox-telemetry.ts'),
  ]);
  return createSandboxTelemetry(await startTelemetry(settings));
}

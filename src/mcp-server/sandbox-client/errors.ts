/**
 * One place that turns what can go wrong talking to the sandbox into a Refusal (refusal.ts)
 * whose kind says what happened and whose message an agent can act on. Callers never
 * inspect HTTP statuses themselves.
 */
import { HTTPError, TimeoutError } from 'ky';
import { QUOTA_REFUSAL, refusalCodeOf } from '../../protocol/sandbox-api.ts';
import { Refusal } from '../refusal.ts';

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET']);

function networkCode(error: unknown): string | undefined {
  let e: unknown = error;
  for (let depth = 0; depth < 4 && e && typeof e === 'object'; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

const MAX_BODY_IN_MESSAGE = 500;

/** Maps any failure of a sandbox call to a Refusal (refusals pass through). */
export async function toSandboxRefusal(error: unknown, baseUrl: string, what: string): Promise<Refusal> {
  if (error instanceof Refusal) return error;
  if (error instanceof HTTPError) {
    const status = error.response.status;
    let body = '';
    try {
      body = (await error.response.text()).trim().slice(0, MAX_BODY_IN_MESSAGE);
    } catch {
      // the body is only decoration for the message
    }
    if (status === 404) return new Refusal('sandbox_not_found', 'unknown or expired context', { status });
    // Told apart by the refusal's code (REFUSAL_CODE_HEADER), never by its words.
    const code = refusalCodeOf(error.response.headers);
    // The tenant's quota (protocol.ts TenantQuota): the message is the count and the limit that applied.
    if (code === 'quota_reached') return new Refusal('too_many_contexts', body.replace(QUOTA_REFUSAL, '').replace(/^:\s*/, ''), { status });
    // Runs waiting or kept (executions.ts Runs.refusal): the message names the limit and what to do.
    if (code === 'too_many_runs') return new Refusal('too_many_runs', body, { status });
    // A network policy beyond the operator's ceiling, or not one at all: the message names the host.
    if (code === 'network_refused' || code === 'invalid_host_pattern') return new Refusal('network_refused', body, { status });
    if (status === 502 || status === 504) {
      return new Refusal('sandbox_timeout', `${what}: the sandbox timed out (HTTP ${status}${body ? `: ${body}` : ''})`, { status });
    }
    return new Refusal('sandbox_http', `${what}: the sandbox answered HTTP ${status}${body ? `: ${body}` : ''}`, { status });
  }
  if (error instanceof TimeoutError) {
    return new Refusal('sandbox_timeout', `${what}: the sandbox at ${baseUrl} did not answer in time`);
  }
  if (error instanceof Error && error.name === 'AbortError') {
    return new Refusal('cancelled', `${what}: cancelled`);
  }
  if (error instanceof Error && error.name === 'TimeoutError') {
    return new Refusal('sandbox_timeout', `${what}: the sandbox at ${baseUrl} did not finish in time`);
  }
  const code = networkCode(error);
  if (code || (error instanceof TypeError && /fetch failed/i.test(error.message))) {
    return new Refusal('sandbox_unreachable', `sandbox unreachable at ${baseUrl}${code ? ` (${code})` : ''}`);
  }
  return new Refusal('sandbox_protocol', `${what}: ${error instanceof Error ? error.message : String(error)}`);
}

/**
 * `tracedSessions(telemetry, parent, sessions)`: a request's sandbox sessions whose calls are spans
 * of its trace (FC: the Session API's CreateSession, ListSessions, DeleteSession behind them).
 */
import { type Context, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { Telemetry } from '../../shared/telemetry/types.ts';
import type { SandboxSessions } from '../sessions/types.ts';

export function tracedSessions(telemetry: Telemetry, parent: Context, sessions: SandboxSessions): SandboxSessions {
  const traced = async <T>(operation: string, call: () => Promise<T>): Promise<T> => {
    const span = telemetry.tracer.startSpan(
      `sandbox_sessions ${operation}`,
      {
        kind: sessions.mode === 'fc' ? SpanKind.CLIENT : SpanKind.INTERNAL,
        attributes: { 'code_interpreter.session.mode': sessions.mode },
      },
      parent,
    );
    try {
      return await call();
    } catch (error) {
      span.setAttribute('error.type', error instanceof Error ? error.name : 'error');
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
  };
  return {
    mode: sessions.mode,
    open: (tenantTag, cap) => traced('open', () => sessions.open(tenantTag, cap)),
    list: (tenantTag) => traced('list', () => sessions.list(tenantTag)),
    ownedBy: (session, tenantTag) => sessions.ownedBy(session, tenantTag),
    close: (sessionId) => traced('close', () => sessions.close(sessionId)),
  };
}

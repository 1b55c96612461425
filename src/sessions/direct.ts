/**
 * Direct session mode (local, or one fixed sandbox): every context lives in one
 * configured sandbox session, so there is nothing to create or delete.
 */
import type { SandboxSessions, SandboxSessionsFactory } from './types.ts';

export function createDirectSessions(sessionId: string): SandboxSessions {
  return {
    mode: 'direct',
    open: async () => sessionId,
    list: async () => [sessionId],
    close: async () => {},
  };
}

/** The factory form createApp takes; direct mode needs nothing from the request. */
export function directSessionsFactory(sessionId: string): SandboxSessionsFactory {
  const sessions = createDirectSessions(sessionId);
  return () => sessions;
}

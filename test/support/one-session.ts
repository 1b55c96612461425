/**
 * The sessions of an in-process app test: direct mode with one session, `only`, that every
 * tenant owns. For tests that drive createApp without a sandbox. Not a test file itself.
 */
import type { SandboxSessions, SandboxSessionsFactory } from '../../src/mcp-server/sessions/types.ts';

export function oneDirectSession(): SandboxSessionsFactory {
  const sessions: SandboxSessions = {
    mode: 'direct',
    open: async () => ({ id: 'only', capKept: true }),
    list: async () => ['only'],
    ownedBy: () => true,
    close: async () => {},
  };
  return () => sessions;
}

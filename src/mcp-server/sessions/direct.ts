/**
 * Direct session mode (local, or one fixed sandbox): the MCP side talks to one
 * sandbox and names the sessions itself. Each context gets a session of its own,
 * `<SANDBOX_SESSION_ID>-<tenant tag>-<random>`, so its workspace is private to it, as
 * each context is its own FC session in FC mode, and its tenant shows in its name; the
 * tenant's cap goes with each creation as a quota on that name's prefix, which the
 * sandbox counts and enforces in one step (parallel calls and several MCP instances
 * cannot overshoot it). The sandbox lists them (GET /sessions, the sandbox service's
 * extension); a sandbox that cannot gets every context in the one configured session,
 * as before, sharing its workspace (list_contexts then tells tenants apart by the
 * contexts' metadata, and the cap is only counted, not kept, against parallel calls).
 */
import { randomBytes } from 'node:crypto';
import type { SandboxClient } from '../sandbox-client/client.ts';
import type { SandboxSessions } from './types.ts';

export function createDirectSessions(sessionId: string, sandbox: Pick<SandboxClient, 'listSessions'>): SandboxSessions {
  const prefix = (tenantTag: string) => `${sessionId}-${tenantTag}-`;
  return {
    mode: 'direct',
    async open(tenantTag, cap = 0) {
      if ((await sandbox.listSessions()) === undefined) return { id: sessionId, capKept: cap === 0 };
      const session_prefix = prefix(tenantTag);
      return {
        id: `${session_prefix}${randomBytes(9).toString('base64url').replaceAll('_', '.')}`,
        ...(cap > 0 ? { quota: { session_prefix, max_contexts: cap } } : {}),
        capKept: true,
      };
    },
    async list(tenantTag) {
      const listed = await sandbox.listSessions();
      if (listed === undefined) return [sessionId];
      return listed.filter((session) => session.startsWith(prefix(tenantTag)));
    },
    ownedBy: (session, tenantTag) => session.startsWith(prefix(tenantTag)),
    // The sandbox ends a session with its last context (its workspace goes with it).
    close: async () => {},
  };
}

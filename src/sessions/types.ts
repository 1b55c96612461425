/**
 * Where sandbox sessions come from. A session is the unit the sandbox isolates
 * (one workspace, one routing key); contexts live inside sessions. The MCP side
 * never remembers sessions itself: it asks this interface, which asks the cloud
 * (FC Session API) or simply names the one configured session (direct mode).
 */
export interface SandboxSessions {
  readonly mode: 'direct' | 'fc';
  /** A session to hold a new context: direct mode answers its one session; FC creates one. */
  open(): Promise<string>;
  /** Every session that may hold live contexts (FC: all active sessions, following nextToken). */
  list(): Promise<string[]>;
  /** Called once the last context of a session is gone: FC deletes the session; direct does nothing. */
  close(sessionId: string): Promise<void>;
}

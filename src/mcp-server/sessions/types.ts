/**
 * Where sandbox sessions come from. A session is the unit the sandbox isolates
 * (one workspace, one routing key); contexts live inside sessions. The MCP side
 * never remembers sessions itself: it asks this interface, which asks the cloud
 * (FC Session API) or simply names the one configured session (direct mode).
 */
import type { TenantQuota } from '../../protocol/sandbox-api.ts';
import { Refusal } from '../refusal.ts';

export interface SandboxSessions {
  readonly mode: 'direct' | 'fc';
  /**
   * A new session for a context of the tenant whose tag is given (auth/tenant.ts tenantTag):
   * its id starts with the tag, which is how list() tells the tenant's sessions apart.
   * With `cap` > 0 the tenant may hold at most that many contexts, and the session says
   * how that is kept: FC mode refuses here (TenantCapReached), direct mode hands back
   * the quota the sandbox enforces when the context is created.
   */
  open(tenantTag: string, cap?: number): Promise<OpenedSession>;
  /** The tenant's sessions that may hold live contexts (FC: every active session, following nextToken, filtered). */
  list(tenantTag: string): Promise<string[]>;
  /** Whether the session was opened for that tenant (false for a session shared by everyone). */
  ownedBy(session: string, tenantTag: string): boolean;
  /** Called once the last context of a session is gone: FC deletes the session; direct does nothing. */
  close(sessionId: string): Promise<void>;
}

/** A session opened for one new context, and how the tenant's cap is kept for it. */
export interface OpenedSession {
  id: string;
  /** Send with the context's creation: the sandbox counts and refuses in one step (direct mode). */
  quota?: TenantQuota;
  /**
   * false when nothing keeps the cap for this session: the caller counts the tenant's
   * contexts itself, which parallel calls can overshoot (a sandbox that cannot list sessions).
   */
  capKept: boolean;
}

/**
 * The tenant holds `held` sessions (one per context, one-off runs included), its cap being `cap`:
 * the count is what the caller words its own refusal with (tools/tenant-contexts.ts).
 */
export class TenantCapReached extends Refusal {
  override name = 'TenantCapReached';
  constructor(
    readonly held: number,
    readonly cap: number,
  ) {
    super('too_many_contexts', `${held} live contexts, at most ${cap} per tenant`);
  }
}

/**
 * Builds the sessions view for one request. Per request because on FC the freshest
 * credentials arrive with each request (`x-fc-access-key-id` …), and because the
 * function keeps nothing between requests.
 */
export type SandboxSessionsFactory = (request: Request) => SandboxSessions | Promise<SandboxSessions>;

/** Credentials for the FC Session API (a role's temporary ones carry a security token). */
export interface AlibabaCredentials {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
}

/** FC session mode's settings: what `src/mcp-server/sessions/fc.ts` needs; `src/mcp-server/config.ts` builds them from the environment. */
export interface FcSessionsSettings {
  /** The sandbox function's name (env SANDBOX_FUNCTION_NAME; FC_ is reserved by FC). */
  functionName: string;
  /** env SANDBOX_FUNCTION_QUALIFIER, default LATEST */
  qualifier: string;
  /** FC_REGION, given by FC */
  region: string;
  /** FC_ACCOUNT_ID, given by FC */
  accountId: string;
  /** env SESSION_API_ENDPOINT: overrides `<accountId>.<region>.fc.aliyuncs.com` (tests: `127.0.0.1:<port>`) */
  endpoint?: string;
  /** env SESSION_API_PROTOCOL, default https */
  protocol: 'http' | 'https';
  /**
   * What the Session API calls are signed with. From the environment (ALIBABA_CLOUD_*)
   * these are the fallback: a request's x-fc-* credentials win (`credentialsFor`).
   */
  credentials?: AlibabaCredentials;
  /** env SANDBOX_SESSION_TTL_SECONDS, default 3600 */
  sessionTTLInSeconds: number;
  /** env SANDBOX_SESSION_IDLE_SECONDS, default 1800 */
  sessionIdleTimeoutInSeconds: number;
}

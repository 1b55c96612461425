/**
 * FC session mode: every context lives in a session of the sandbox function, and
 * sessions are created, listed and deleted through the FC Session API
 * (`@alicloud/fc20230330`). The SDK is imported lazily: only this mode pays for it,
 * and the FC bundle keeps it in a chunk of its own.
 *
 * The tenant's cap: each context has a session of its own, on whichever instance FC
 * picks, so no sandbox can count a tenant's contexts; the Session API can. open()
 * creates the session first and then ranks it among the tenant's active sessions by
 * creation time: it stays only if fewer than `cap` were created before it, otherwise
 * it is deleted again and the caller refused. Parallel opens (on any MCP instance)
 * thus agree on who goes ahead, with no window between counting and creating,
 * provided ListSessions shows every session whose CreateSession has returned and
 * createdTime follows that order. A refused open costs a CreateSession and a
 * DeleteSession; sessions being refused count briefly against others (refusing more,
 * never fewer). Sessions count whether or not their context is still alive, one-off
 * runs included, until they are closed or FC expires them.
 */
import { randomBytes } from 'node:crypto';
import {
  type AlibabaCredentials,
  type FcSessionsSettings,
  type SandboxSessions,
  type SandboxSessionsFactory,
  TenantCapReached,
} from './types.ts';
import { commonJsExports } from '../../shared/common-js.ts';
import { Refusal } from '../refusal.ts';

/** The Session API calls made here, named in a failure's `operation`. */
export type SessionApiOperation = 'CreateSession' | 'ListSessions' | 'DeleteSession';

/**
 * A Session API call that failed: one line saying which call, on which function, what FC
 * answered (status, code, message, request id) and what to check.
 */
function sessionApiRefusal(message: string, operation: SessionApiOperation, status?: number, code?: string): Refusal {
  return new Refusal('session_api', message, { operation, status, code });
}

/** How many times a listing whose page token went stale is started over. */
const STALE_TOKEN_RETRIES = 3;

/**
 * A later page refused its token (400): the listing is started over. Control flow inside
 * listActive only, never thrown past it (its cause is, once the retries are spent).
 */
class StalePageToken extends Error {
  constructor(override readonly cause: Refusal) {
    super(cause.message);
  }
}

/** The Session API's largest page; fewer round trips when many sessions are live. */
const LIST_PAGE_SIZE = 100;
/** A safety net against a server that keeps handing out tokens: 100 pages × 100 sessions. */
const MAX_LIST_PAGES = 100;
const CONNECT_TIMEOUT_MS = 5_000;
const READ_TIMEOUT_MS = 15_000;

/**
 * The Session API as seen from one request, signed with `settings.credentials`;
 * without credentials it throws at once, saying where they come from. The example
 * is compiled in fc.examples.ts (test/repo/examples.fast.test.ts keeps the two the same).
 *
 * @example
 * const sessions = createFcSessions({
 *   functionName: 'ci-sandbox',
 *   qualifier: 'LATEST',
 *   region: 'cn-hangzhou',
 *   accountId: '123',
 *   protocol: 'https',
 *   credentials,
 *   sessionTTLInSeconds: 3600,
 *   sessionIdleTimeoutInSeconds: 1800,
 * });
 * const { id } = await sessions.open(tenantTag, 20);
 */
export function createFcSessions(settings: FcSessionsSettings): SandboxSessions {
  const { credentials } = settings;
  if (!credentials) {
    throw sessionApiRefusal(
      'FC session mode has no credentials: give the MCP function a role (FC then sends x-fc-access-key-* headers) ' +
        'or set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET',
      'CreateSession',
    );
  }
  const endpoint = settings.endpoint ?? `${settings.accountId}.${settings.region}.fc.aliyuncs.com`;
  let client: Promise<FcClient> | undefined;
  const sdk = () => (client ??= loadClient(settings, credentials, endpoint));

  async function call<T>(operation: SessionApiOperation, run: (c: FcClient, m: SdkModule) => Promise<T>): Promise<T> {
    const c = await sdk();
    try {
      return await run(c, await loadSdk());
    } catch (error) {
      throw describeFailure(error, operation, settings.functionName, endpoint);
    }
  }

  /**
   * The tenant's active sessions with their creation times, every page followed. A page
   * token can go stale while we page (the session it points at deleted meanwhile, as parallel
   * refused opens do): a 400 on a later page starts the listing over, a few times at most.
   */
  async function listActive(tenantTag: string): Promise<{ id: string; createdTime?: string }[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await listAllPages(tenantTag);
      } catch (error) {
        if (!(error instanceof StalePageToken) || attempt >= STALE_TOKEN_RETRIES)
          throw error instanceof StalePageToken ? error.cause : error;
      }
    }
  }

  async function listAllPages(tenantTag: string): Promise<{ id: string; createdTime?: string }[]> {
    const found: { id: string; createdTime?: string }[] = [];
    const seenTokens = new Set<string>();
    let nextToken: string | undefined;
    for (let page = 0; page < MAX_LIST_PAGES; page++) {
      const response = await call('ListSessions', (c, m) =>
        c.listSessions(
          settings.functionName,
          new m.ListSessionsRequest({
            qualifier: settings.qualifier,
            sessionStatus: 'Active',
            limit: LIST_PAGE_SIZE,
            nextToken,
          }),
        ),
      ).catch((error: unknown) => {
        if (nextToken && error instanceof Refusal && error.status === 400) throw new StalePageToken(error);
        throw error;
      });
      for (const session of response.body?.sessions ?? []) {
        // The filter is asked for above; checked again because an expired session has no kernel to ask.
        const id = session.sessionId;
        if (id?.startsWith(`${tenantTag}-`) && (session.sessionStatus ?? 'Active') === 'Active') {
          found.push({ id, createdTime: session.createdTime });
        }
      }
      nextToken = response.body?.nextToken || undefined;
      if (!nextToken) return found;
      if (seenTokens.has(nextToken)) {
        throw sessionApiRefusal(
          `FC Session API ListSessions on function "${settings.functionName}" repeated nextToken "${nextToken}"; stopped paging`,
          'ListSessions',
        );
      }
      seenTokens.add(nextToken);
    }
    throw sessionApiRefusal(
      `FC Session API ListSessions on function "${settings.functionName}" returned more than ${MAX_LIST_PAGES} pages; stopped paging`,
      'ListSessions',
    );
  }

  async function deleteSession(sessionId: string): Promise<void> {
    try {
      await call('DeleteSession', (c, m) =>
        c.deleteSession(settings.functionName, sessionId, new m.DeleteSessionRequest({ qualifier: settings.qualifier })),
      );
    } catch (error) {
      // Already gone (expired by its TTL, or deleted by a concurrent stop): the goal is reached.
      if (error instanceof Refusal && error.status === 404 && error.details.code !== 'FunctionNotFound') return;
      throw error;
    }
  }

  /** Keeps the new session only if fewer than `cap` of the tenant's sessions were created before it (see above). */
  async function admit(sessionId: string, tenantTag: string, cap: number): Promise<void> {
    let ahead: number;
    try {
      ahead = sessionsAhead(sessionId, await listActive(tenantTag));
    } catch (error) {
      await deleteSession(sessionId).catch(() => {});
      throw error;
    }
    if (ahead >= cap) {
      await deleteSession(sessionId).catch(() => {});
      throw new TenantCapReached(ahead, cap);
    }
  }

  return {
    mode: 'fc',

    async open(tenantTag, cap = 0) {
      const response = await call('CreateSession', (c, m) =>
        c.createSession(
          settings.functionName,
          new m.CreateSessionRequest({
            qualifier: settings.qualifier,
            body: new m.CreateSessionInput({
              // Ours to name: the tenant's tag leads, so ListSessions can be filtered by tenant.
              sessionId: `${tenantTag}-${randomBytes(12).toString('hex')}`,
              sessionTTLInSeconds: settings.sessionTTLInSeconds,
              sessionIdleTimeoutInSeconds: settings.sessionIdleTimeoutInSeconds,
            }),
          }),
        ),
      );
      const sessionId = response.body?.sessionId;
      if (!sessionId) {
        throw sessionApiRefusal(
          `FC Session API CreateSession on function "${settings.functionName}" answered without a sessionId`,
          'CreateSession',
          response.statusCode,
        );
      }
      if (cap > 0) await admit(sessionId, tenantTag, cap);
      return { id: sessionId, capKept: true };
    },

    ownedBy: (session, tenantTag) => session.startsWith(`${tenantTag}-`),

    async list(tenantTag) {
      return (await listActive(tenantTag)).map((session) => session.id);
    },

    close: deleteSession,
  };
}

/**
 * How many of the listed sessions were created before `sessionId` (by createdTime, then
 * id, so every caller orders them alike); all of them when it is not listed (yet).
 */
function sessionsAhead(sessionId: string, sessions: { id: string; createdTime?: string }[]): number {
  const time = (createdTime?: string) => {
    const ms = createdTime === undefined ? Number.NaN : Date.parse(createdTime);
    return Number.isNaN(ms) ? Number.POSITIVE_INFINITY : ms;
  };
  const order = (a: { id: string; createdTime?: string }, b: { id: string; createdTime?: string }) =>
    time(a.createdTime) - time(b.createdTime) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const own = sessions.find((session) => session.id === sessionId);
  if (!own) return sessions.length;
  return sessions.filter((session) => session.id !== sessionId && order(session, own) < 0).length;
}

/**
 * The credentials FC hands a function with a role, in the request headers
 * (`x-fc-access-key-id`, `x-fc-access-key-secret`, `x-fc-security-token`); undefined when absent.
 * They are fresher than the instance's environment, which keeps the ones from its start.
 */
export function credentialsFromHeaders(headers: Headers): AlibabaCredentials | undefined {
  const accessKeyId = headers.get('x-fc-access-key-id');
  const accessKeySecret = headers.get('x-fc-access-key-secret');
  if (!accessKeyId || !accessKeySecret) return undefined;
  const securityToken = headers.get('x-fc-security-token') || undefined;
  return { accessKeyId, accessKeySecret, ...(securityToken ? { securityToken } : {}) };
}

/** The credentials to call FC with for one request: the request's x-fc-* ones when present, else `configured` (ALIBABA_CLOUD_*). */
export function credentialsFor(request: Request, configured: AlibabaCredentials | undefined): AlibabaCredentials | undefined {
  return credentialsFromHeaders(request.headers) ?? configured;
}

/** The per-request factory `createApp` takes in FC session mode, signing with `credentialsFor` the request. */
export function fcSessionsFactory(settings: FcSessionsSettings): SandboxSessionsFactory {
  return (request) => createFcSessions({ ...settings, credentials: credentialsFor(request, settings.credentials) });
}

const importSdk = () => import('@alicloud/fc20230330');
type SdkModule = Awaited<ReturnType<typeof importSdk>>;
type FcClientClass = SdkModule['default']['default'];
type FcClient = InstanceType<FcClientClass>;

async function loadSdk(): Promise<SdkModule> {
  return commonJsExports<SdkModule>(await importSdk());
}

async function loadClient(settings: FcSessionsSettings, credentials: AlibabaCredentials, endpoint: string): Promise<FcClient> {
  const [sdk, core] = await Promise.all([loadSdk(), import('@alicloud/openapi-core')]);
  const { $OpenApiUtil } = commonJsExports<typeof core>(core);
  const Client = sdk.default as unknown as FcClientClass | { default: FcClientClass };
  const ClientClass = typeof Client === 'function' ? Client : Client.default;
  const { accessKeyId, accessKeySecret, securityToken } = credentials;
  return new ClientClass(
    new $OpenApiUtil.Config({
      accessKeyId,
      accessKeySecret,
      ...(securityToken ? { securityToken } : {}),
      endpoint,
      protocol: settings.protocol,
      regionId: settings.region,
      connectTimeout: CONNECT_TIMEOUT_MS,
      readTimeout: READ_TIMEOUT_MS,
    }),
  );
}

/** What the SDK throws: a ResponseError with FC's answer, or a plain network error. */
interface SdkError {
  message?: string;
  code?: string;
  statusCode?: number;
  data?: { statusCode?: number; Code?: string; code?: string; Message?: string; message?: string; RequestId?: string; requestId?: string };
}

const HINTS: Record<number, string> = {
  401: 'check the credentials',
  403: "check the MCP function's role and its policy (infra/ram-policy.json)",
  404: 'check SANDBOX_FUNCTION_NAME and SANDBOX_FUNCTION_QUALIFIER',
};

function describeFailure(error: unknown, operation: SessionApiOperation, functionName: string, endpoint: string): Refusal {
  if (error instanceof Refusal) return error;
  const e = (error ?? {}) as SdkError;
  const status = e.data?.statusCode ?? e.statusCode;
  const where = `FC Session API ${operation} on function "${functionName}"`;
  if (status === undefined) {
    // The SDK appends "<METHOD> <url> failed." to the socket's message; the endpoint is named already.
    const reason = (String(e.message ?? error).split('\n')[0] ?? '').replace(
      /\s*(GET|POST|PUT|DELETE|PATCH) https?:\/\/\S+ failed\.?$/,
      '',
    );
    return sessionApiRefusal(`${where} failed: cannot reach ${endpoint}: ${reason}`, operation, undefined, e.code);
  }
  const code = e.data?.Code ?? e.data?.code ?? e.code;
  const message = e.data?.Message ?? e.data?.message;
  const requestId = e.data?.RequestId ?? e.data?.requestId;
  const hint = HINTS[status];
  return sessionApiRefusal(
    `${where} failed: HTTP ${status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}` +
      `${requestId ? ` (request id ${requestId})` : ''}${hint ? `; ${hint}` : ''}`,
    operation,
    status,
    code,
  );
}

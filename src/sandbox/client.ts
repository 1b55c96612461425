/**
 * The MCP side's client of the sandbox wire protocol (src/sandbox/protocol.ts), on ky.
 * Every request carries the session header; GET and DELETE retry with backoff,
 * POSTs never do (creating a context or running code twice is not harmless).
 * Failures come out as SandboxError with a message meant for the agent.
 */
import ky, { type KyInstance, type Options as KyOptions } from 'ky';
import { Context, ContextList, type CreateContextRequest, type ExecuteRequest } from './protocol.ts';
import { SandboxError, toSandboxError } from './errors.ts';
import { collectExecution, type Execution, type ExecutionEventListener } from './execution.ts';

export { SandboxError } from './errors.ts';
export type { Execution, ExecutionEventListener } from './execution.ts';

export interface SandboxClientOptions {
  /** e.g. http://localhost:5001 */
  baseUrl: string;
  /** Header that routes a request to the session's instance. */
  sessionHeader: string;
  /** The sandbox API's own token, sent as X-Access-Token (the embedded sandbox's; E2B's header name). */
  accessToken?: string;
  /** Adds a credential to each request (FC: the sandbox function is not public). */
  authorize?: (request: Request) => void | Promise<void>;
  /** Per-call timeout for everything but /execute, ms (default 15000). */
  requestTimeoutMs?: number;
  /** Retries of idempotent calls (default 2). */
  retries?: number;
  /** For tests and benchmarks. */
  fetch?: typeof fetch;
}

export interface HealthReport {
  status: 'healthy' | 'unhealthy' | 'timeout' | 'connection_error';
  url: string;
  responseCode?: number;
  latencyMs: number;
  error?: string;
}

export interface ExecuteOptions {
  signal?: AbortSignal;
  onEvent?: ExecutionEventListener;
}

export interface SandboxClient {
  readonly baseUrl: string;
  health(): Promise<HealthReport>;
  createContext(session: string, request: CreateContextRequest): Promise<Context>;
  listContexts(session: string): Promise<Context[]>;
  deleteContext(session: string, contextId: string): Promise<void>;
  /** Runs code; resolves when the sandbox ends the stream. `timeout` (s) also bounds the HTTP call. */
  execute(session: string, request: ExecuteRequest, options?: ExecuteOptions): Promise<Execution>;
}

/** Slack on top of the sandbox's own run timeout before this side gives up on the stream. */
const EXECUTE_GRACE_MS = 15_000;
const DEFAULT_RUN_TIMEOUT_S = 300;

export function createSandboxClient(options: SandboxClientOptions): SandboxClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const requestTimeout = options.requestTimeoutMs ?? 15_000;
  const http: KyInstance = ky.create({
    prefixUrl: baseUrl,
    timeout: requestTimeout,
    retry: { limit: options.retries ?? 2, methods: ['get', 'delete'], backoffLimit: 2000 },
    fetch: options.fetch,
    headers: options.accessToken ? { 'X-Access-Token': options.accessToken } : undefined,
    hooks: options.authorize
      ? {
          beforeRequest: [
            async (request) => {
              await options.authorize!(request);
            },
          ],
        }
      : undefined,
  });

  const withSession = (session: string, extra: KyOptions = {}): KyOptions => ({
    ...extra,
    headers: { ...(extra.headers as Record<string, string> | undefined), [options.sessionHeader]: session },
  });

  async function call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw await toSandboxError(error, baseUrl, what);
    }
  }

  return {
    baseUrl,

    async health() {
      const started = performance.now();
      const latency = () => Math.round((performance.now() - started) * 10) / 10;
      try {
        const response = await http.get('health', { retry: 0, throwHttpErrors: false, timeout: 5000 });
        await response.body?.cancel();
        return {
          status: response.ok ? 'healthy' : 'unhealthy',
          url: baseUrl,
          responseCode: response.status,
          latencyMs: latency(),
        };
      } catch (error) {
        const mapped = await toSandboxError(error, baseUrl, 'health check');
        return {
          status: mapped.kind === 'timeout' ? 'timeout' : mapped.kind === 'unreachable' ? 'connection_error' : 'unhealthy',
          url: baseUrl,
          latencyMs: latency(),
          error: mapped.message,
        };
      }
    },

    createContext(session, request) {
      return call('create context', async () =>
        Context.parse(await http.post('contexts', withSession(session, { json: request, retry: 0 })).json()),
      );
    },

    listContexts(session) {
      return call('list contexts', async () => ContextList.parse(await http.get('contexts', withSession(session)).json()));
    },

    deleteContext(session, contextId) {
      return call('stop context', async () => {
        const response = await http.delete(`contexts/${encodeURIComponent(contextId)}`, withSession(session));
        await response.body?.cancel();
      });
    },

    execute(session, request, executeOptions = {}) {
      const runTimeoutMs = (request.timeout ?? DEFAULT_RUN_TIMEOUT_S) * 1000;
      // ky's timeout covers the wait for headers only; this deadline also bounds the stream.
      const deadline = AbortSignal.timeout(runTimeoutMs + EXECUTE_GRACE_MS);
      const signal = executeOptions.signal ? AbortSignal.any([executeOptions.signal, deadline]) : deadline;
      return call('run code', async () => {
        const response = await http.post(
          'execute',
          withSession(session, { json: request, retry: 0, timeout: runTimeoutMs + EXECUTE_GRACE_MS, signal }),
        );
        if (!response.body) throw new SandboxError('protocol', 'run code: the sandbox sent no output stream');
        return collectExecution(response.body, executeOptions.onEvent);
      });
    },
  };
}

export type SandboxClientFactory = (request: Request) => SandboxClient;

/**
 * The MCP side's client of the sandbox wire protocol (src/protocol/sandbox-api.ts), on ky.
 * Every request carries the session header; GET and DELETE retry with backoff,
 * POSTs never do (creating a context or running code twice is not harmless).
 * Failures come out as a Refusal (refusal.ts) with a message meant for the agent.
 */
import ky, { HTTPError, type KyInstance, type Options as KyOptions } from 'ky';
import type { z } from 'zod';
import {
  Context,
  ContextList,
  DirectoryListing,
  EntryResponse,
  FILE_ROUTES,
  FileContent,
  type FileEntry,
  SESSIONS_ROUTE,
  SessionList,
  InterruptedRuns,
  RUN_ROUTES,
  RunEvents,
  RunStatus,
  type RunEventsRequest,
  type WriteFileRequest,
  WrittenFile,
  type CreateContextRequest,
  type ExecuteRequest,
  refusalCodeOf,
  CONTEXT_NETWORK_ROUTE,
  type NetworkPolicy,
  EXISTING_SESSION_HEADER,
  InstallPackagesResult,
  type InstallPackagesRequest,
  PACKAGES_ROUTE,
} from '../../protocol/sandbox-api.ts';
import { Refusal } from '../refusal.ts';
import { toSandboxRefusal } from './errors.ts';
import { collectExecution, type Execution, type ExecutionEventListener } from './execution.ts';
import { CONTEXT_START_TIMEOUT_SECONDS, DEFAULT_RUN_TIMEOUT_SECONDS } from '../../protocol/limits.ts';
import { yieldIfLarge } from '../../shared/yield-to-loop.ts';

export type { Execution, ExecutionEventListener } from './execution.ts';

export interface SandboxClientOptions {
  /** e.g. http://localhost:5001 */
  baseUrl: string;
  /** Header that routes a request to the session's instance. */
  sessionHeader: string;
  /** The sandbox API's own token, sent as X-Access-Token (the sandbox service's; E2B's header name). */
  accessToken?: string;
  /** Adds a credential to each request (FC: the sandbox function is not public). */
  authorize?: (request: Request) => void | Promise<void>;
  /** Per-call timeout for everything but /execute, ms (default 15000). */
  requestTimeoutMs?: number;
  /** Retries of idempotent calls (default 2). */
  retries?: number;
  /** For tests and benchmarks. */
  fetch?: typeof fetch;
  /** What the client learns about the sandbox as it goes; share one among the clients of one sandbox. */
  features?: SandboxFeatures;
}

/** Extensions a sandbox was seen to offer (undefined: not known yet). */
export interface SandboxFeatures {
  /** The execute stream carries `files_changed` when asked (report_files). */
  reportsFiles?: boolean;
}

/** What a health check found; health_check's output schema lists the same values. */
export const HEALTH_STATUSES = ['healthy', 'unhealthy', 'timeout', 'connection_error'] as const;
export type HealthStatus = (typeof HEALTH_STATUSES)[number];

export interface HealthReport {
  status: HealthStatus;
  url: string;
  responseCode?: number;
  latencyMs: number;
  error?: string;
}

/** One execute call's caller-side options (the sandbox service's kernel has its own ExecuteOptions). */
export interface ExecuteCallOptions {
  signal?: AbortSignal;
  onEvent?: ExecutionEventListener;
}

export interface SandboxClient {
  readonly baseUrl: string;
  /** What this sandbox was seen to offer so far. */
  readonly features: SandboxFeatures;
  health(): Promise<HealthReport>;
  createContext(session: string, request: CreateContextRequest): Promise<Context>;
  listContexts(session: string): Promise<Context[]>;
  /** Replaces a live context's network policy (PUT /contexts/{id}/network, ours); the context as it is now. */
  setNetwork(session: string, sandboxContextId: string, policy: NetworkPolicy): Promise<Context>;
  deleteContext(session: string, sandboxContextId: string): Promise<void>;
  /**
   * Installs packages into the session's workspace for the context (POST /contexts/{id}/packages, ours);
   * a failed install is an answer (`ok: false`, the manager's text), not an error. `timeout` (s) also bounds the call.
   */
  installPackages(
    session: string,
    sandboxContextId: string,
    request: InstallPackagesRequest,
    signal?: AbortSignal,
  ): Promise<InstallPackagesResult>;
  /** Runs code; resolves when the sandbox ends the stream. `timeout` (s) also bounds the HTTP call. */
  execute(session: string, request: ExecuteRequest, options?: ExecuteCallOptions): Promise<Execution>;
  /**
   * A held run's events (POST /runs/{id}/events, ours), waiting up to `wait_seconds` for one.
   * A Refusal `sandbox_not_found` for a run the sandbox does not know (or a sandbox without runs).
   */
  runEvents(session: string, runId: string, request: RunEventsRequest): Promise<RunEvents>;
  /** Interrupts a run (POST /runs/{id}/interrupt); `not_found` as runEvents. */
  interruptRun(session: string, runId: string): Promise<z.infer<typeof RunStatus>>;
  /** Interrupts the session's runs tagged `tag` (POST /runs/interrupt; `early` as InterruptTaggedRequest's); undefined when the sandbox has no runs. */
  interruptTagged(session: string, tag: string, early?: boolean): Promise<number | undefined>;
  /** The sessions holding contexts (GET /sessions, ours); undefined when the sandbox does not list them. */
  listSessions(): Promise<string[] | undefined>;
  readFile(session: string, path: string): Promise<FileContent>;
  writeFile(session: string, request: WriteFileRequest): Promise<WrittenFile>;
  /** Streams `body` into the file (multipart, as the cloud image takes uploads). */
  uploadFile(session: string, path: string, body: ReadableStream<Uint8Array>, signal?: AbortSignal): Promise<WrittenFile>;
  /** The file's raw bytes as a stream, and its size when the sandbox says. */
  downloadFile(session: string, path: string, signal?: AbortSignal): Promise<{ body: ReadableStream<Uint8Array>; size?: number }>;
  listFiles(session: string, path: string, depth: number): Promise<DirectoryListing>;
  statFile(session: string, path: string): Promise<FileEntry>;
}

/** Slack on top of the sandbox's own run timeout before this side gives up on the stream. */
const EXECUTE_GRACE_MS = 15_000;

/** Slack on top of the sandbox's deadline for a creation, for its refusal to arrive. */
const CREATE_GRACE_MS = 10_000;

/**
 * The MCP side's client of a sandbox service (or any sandbox speaking its protocol): every
 * call names the sandbox session it belongs to, which goes in `sessionHeader`; refusals
 * come back as a Refusal.
 *
 * @example
 * const sandbox = createSandboxClient({ baseUrl: 'http://localhost:5001', sessionHeader: 'x-ci-session-id' });
 * const context = await sandbox.createContext('my-session', { language: 'python' });
 * const execution = await sandbox.execute('my-session', { code: '1 + 1', context_id: context.id });
 */
export function createSandboxClient(options: SandboxClientOptions): SandboxClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const requestTimeout = options.requestTimeoutMs ?? 15_000;
  // Past the sandbox's own deadline, which answers with its reason: never cut short by requestTimeout.
  const createTimeout = Math.max(requestTimeout, CONTEXT_START_TIMEOUT_SECONDS * 1000 + CREATE_GRACE_MS);
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
    // Every session of ours comes from a context: a file call must never open one (a stopped context's id stays stopped).
    headers: { ...(extra.headers as Record<string, string> | undefined), [options.sessionHeader]: session, [EXISTING_SESSION_HEADER]: '1' },
  });

  /** A body that may be large (code, a file's content): encoded here, then sent in a task of its own (yield-to-loop.ts). */
  const withJsonBody = async (session: string, value: unknown, extra: KyOptions): Promise<KyOptions> => {
    const body = JSON.stringify(value);
    await yieldIfLarge(body.length);
    return withSession(session, {
      ...extra,
      body,
      headers: { ...(extra.headers as Record<string, string> | undefined), 'content-type': 'application/json' },
    });
  };

  async function call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw await toSandboxRefusal(error, baseUrl, what);
    }
  }

  /** A file call: a 404 is the file's (when the answer says so) or a sandbox without the file API. */
  async function fileCall<T>(what: string, path: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof HTTPError && error.response.status === 404) throw await fileNotFound(error.response, what, path);
      throw await toSandboxRefusal(error, baseUrl, what);
    }
  }

  const features = options.features ?? {};

  return {
    baseUrl,
    features,

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
        const mapped = await toSandboxRefusal(error, baseUrl, 'health check');
        return {
          status: mapped.kind === 'sandbox_timeout' ? 'timeout' : mapped.kind === 'sandbox_unreachable' ? 'connection_error' : 'unhealthy',
          url: baseUrl,
          latencyMs: latency(),
          error: mapped.message,
        };
      }
    },

    createContext(session, request) {
      return call('create context', async () =>
        Context.parse(await http.post('contexts', withSession(session, { json: request, retry: 0, timeout: createTimeout })).json()),
      );
    },

    setNetwork(session, sandboxContextId, policy) {
      const path = CONTEXT_NETWORK_ROUTE.replace(':id', encodeURIComponent(sandboxContextId)).slice(1);
      return call('set network', async () => Context.parse(await http.put(path, withSession(session, { json: policy, retry: 0 })).json()));
    },

    listContexts(session) {
      return call('list contexts', async () => ContextList.parse(await http.get('contexts', withSession(session)).json()));
    },

    deleteContext(session, sandboxContextId) {
      return call('stop context', async () => {
        const response = await http.delete(`contexts/${encodeURIComponent(sandboxContextId)}`, withSession(session));
        await response.body?.cancel();
      });
    },

    installPackages(session, sandboxContextId, request, signal) {
      const timeout = (request.timeout ?? DEFAULT_RUN_TIMEOUT_SECONDS) * 1000 + EXECUTE_GRACE_MS;
      const path = PACKAGES_ROUTE.replace(':id', encodeURIComponent(sandboxContextId)).slice(1);
      return call('install packages', async () =>
        InstallPackagesResult.parse(await http.post(path, withSession(session, { json: request, retry: 0, timeout, signal })).json()),
      );
    },

    execute(session, request, executeOptions = {}) {
      const runTimeoutMs = (request.timeout ?? DEFAULT_RUN_TIMEOUT_SECONDS) * 1000;
      // ky's timeout covers the wait for headers only; this deadline also bounds the stream.
      const deadline = AbortSignal.timeout(runTimeoutMs + EXECUTE_GRACE_MS);
      const signal = executeOptions.signal ? AbortSignal.any([executeOptions.signal, deadline]) : deadline;
      return call('run code', async () => {
        const response = await http.post(
          'execute',
          await withJsonBody(session, request, { retry: 0, timeout: runTimeoutMs + EXECUTE_GRACE_MS, signal }),
        );
        if (!response.body) throw new Refusal('sandbox_protocol', 'run code: the sandbox sent no output stream');
        const execution = await collectExecution(response.body, executeOptions.onEvent);
        if (request.report_files && execution.complete) features.reportsFiles = execution.filesChanged !== undefined;
        return execution;
      });
    },

    runEvents(session, runId, request) {
      const waitMs = (request.wait_seconds ?? 0) * 1000;
      return call('read run', async () =>
        RunEvents.parse(
          await http
            .post(runPath(RUN_ROUTES.events, runId), withSession(session, { json: request, retry: 0, timeout: requestTimeout + waitMs }))
            .json(),
        ),
      );
    },

    interruptRun(session, runId) {
      return call('cancel run', async () =>
        RunStatus.parse(await http.post(runPath(RUN_ROUTES.interrupt, runId), withSession(session, { retry: 0 })).json()),
      );
    },

    async interruptTagged(session, tag, early) {
      try {
        const json = early === undefined ? { tag } : { tag, early };
        const answer = await http.post(RUN_ROUTES.interruptTagged.slice(1), withSession(session, { json, retry: 0 })).json();
        return InterruptedRuns.parse(answer).interrupted;
      } catch (error) {
        if (error instanceof HTTPError && error.response.status === 404) return undefined;
        throw await toSandboxRefusal(error, baseUrl, 'cancel run');
      }
    },

    async listSessions() {
      try {
        return SessionList.parse(await http.get(SESSIONS_ROUTE.slice(1)).json());
      } catch (error) {
        if (error instanceof HTTPError && error.response.status === 404) return undefined;
        throw await toSandboxRefusal(error, baseUrl, 'list sessions');
      }
    },

    readFile(session, path) {
      return fileCall('read file', path, async () =>
        FileContent.parse(await http.get(FILE_ROUTES.files.slice(1), withSession(session, { searchParams: { path } })).json()),
      );
    },

    writeFile(session, request) {
      return fileCall('write file', request.path, async () =>
        WrittenFile.parse(await http.post(FILE_ROUTES.files.slice(1), await withJsonBody(session, request, { retry: 0 })).json()),
      );
    },

    uploadFile(session, path, body, signal) {
      const boundary = `----fc-ci-${crypto.randomUUID()}`;
      return fileCall('upload file', path, async () =>
        WrittenFile.parse(
          await http
            .post(
              FILE_ROUTES.upload.slice(1),
              withSession(session, {
                body: multipartStream(boundary, path, body),
                headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
                retry: 0,
                timeout: false,
                signal,
              }),
            )
            .json(),
        ),
      );
    },

    downloadFile(session, path, signal) {
      return fileCall('download file', path, async () => {
        const response = await http.get(
          FILE_ROUTES.download.slice(1),
          withSession(session, { searchParams: { path }, timeout: false, signal }),
        );
        if (!response.body) throw new Refusal('sandbox_protocol', 'download file: the sandbox sent no body');
        const length = Number(response.headers.get('content-length'));
        return { body: response.body, size: Number.isFinite(length) && length >= 0 ? length : undefined };
      });
    },

    listFiles(session, path, depth) {
      return fileCall('list files', path, async () =>
        DirectoryListing.parse(await http.get(FILE_ROUTES.list.slice(1), withSession(session, { searchParams: { path, depth } })).json()),
      );
    },

    statFile(session, path) {
      return fileCall('stat file', path, async () => {
        const answer = await http.get(FILE_ROUTES.stat.slice(1), withSession(session, { searchParams: { path } })).json();
        return EntryResponse.parse(answer).entry;
      });
    },
  };
}

function runPath(route: string, runId: string): string {
  return route.slice(1).replace(':id', encodeURIComponent(runId));
}

/**
 * A file route's 404: this project's sandbox says by its refusal code whether the session or the
 * file is missing. A sandbox that sends no code (Alibaba's image) names a missing file in its
 * message; any other 404 means the route itself is missing.
 */
async function fileNotFound(response: Response, what: string, path: string): Promise<Refusal> {
  const code = refusalCodeOf(response.headers);
  // The session holds no live context (stopped, expired): the context is what is missing, not the file.
  if (code === 'unknown_session') return new Refusal('sandbox_not_found', 'unknown or expired context', { status: 404 });
  if (code === 'file_not_found') return new Refusal('sandbox_file_not_found', `no such file or directory: ${path}`, { status: 404 });
  const body = code ? '' : (await response.text().catch(() => '')).trim().slice(0, 500);
  if (/no such file|not found|does not exist/i.test(body) && !/^<|^404 Not Found$/i.test(body)) {
    return new Refusal('sandbox_file_not_found', `no such file or directory: ${path}`, { status: 404 });
  }
  return new Refusal(
    'sandbox_no_file_api',
    `${what}: this sandbox has no file API (it answered 404 for its file routes); files need Alibaba's code-interpreter image or this project's sandbox service`,
    { status: 404 },
  );
}

/** A multipart/form-data body with the `path` field first, then the file, streamed as it arrives. */
function multipartStream(boundary: string, path: string, file: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const name = path.split('/').pop() || 'file';
  const head = encoder.encode(
    `--${boundary}\r\nContent-Disposition: form-data; name="path"\r\n\r\n${path}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name.replaceAll('"', '%22')}"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n',
  );
  const tail = encoder.encode(`\r\n--${boundary}--\r\n`);
  const reader = file.getReader();
  let started = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!started) {
        started = true;
        controller.enqueue(head);
        return;
      }
      const { done, value } = await reader.read();
      if (done) {
        controller.enqueue(tail);
        controller.close();
      } else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

export type SandboxClientFactory = (request: Request) => SandboxClient;

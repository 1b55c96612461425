/**
 * The sandbox wire protocol: the HTTP API of E2B's code-interpreter server, which
 * Alibaba's sandbox-code-interpreter image speaks too. Written once, here, and
 * imported by both the MCP side's client and the sandbox service's server, so the
 * two cannot drift apart. Fields marked "extension" are ours; a sandbox that does
 * not know them ignores them, and a client must cope with their absence.
 */
import { z } from 'zod';

/** Header that routes a request to the sandbox instance holding a session (FC's `affinityHeaderFieldName`). */
export const DEFAULT_SESSION_HEADER = 'x-ci-session-id';

/**
 * The session header's name, as both sides read it from SANDBOX_SESSION_HEADER: FC's rules for
 * an affinity header (5–40 characters, not the `x-fc-` prefix it reserves), lower-cased.
 */
export const SessionHeaderName = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9-]{4,39}$/, 'must be 5–40 letters, digits or "-", starting with a letter')
  .refine((name) => !name.toLowerCase().startsWith('x-fc-'), 'must not start with "x-fc-" (reserved by Function Compute)')
  .transform((name) => name.toLowerCase());

/** A session header's value; the sandbox service makes it a directory name, so a safe alphabet. */
export const SESSION_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const SESSION_ID_RULE = '1–128 letters, digits, ".", "_" or "-", starting with a letter or digit';
export const SessionId = z.string().regex(SESSION_ID_PATTERN, `must be ${SESSION_ID_RULE}`);

export const LANGUAGES = ['python', 'javascript', 'typescript', 'bash', 'r'] as const;
export type Language = (typeof LANGUAGES)[number];

const LANGUAGE_ALIASES: Record<string, Language> = {
  python: 'python',
  py: 'python',
  python3: 'python',
  javascript: 'javascript',
  js: 'javascript',
  typescript: 'typescript',
  ts: 'typescript',
  bash: 'bash',
  sh: 'bash',
  shell: 'bash',
  r: 'r',
};

/** Maps a language name as users write it (`JS`, `ts`) to ours; undefined when unsupported. */
export function normalizeLanguage(name: string): Language | undefined {
  return LANGUAGE_ALIASES[name.trim().toLowerCase()];
}

/** What both programs answer to a language they do not run. */
export function unsupportedLanguage(name: unknown): string {
  return `unsupported language ${JSON.stringify(name)}; supported: ${LANGUAGES.join(', ')} (aliases: py, js, ts, sh)`;
}

/** A language name on the wire: any case, aliases allowed; an unsupported one fails with the list. */
export const LanguageName = z.string().transform((name, ctx) => {
  const language = normalizeLanguage(name);
  if (!language) {
    ctx.addIssue({ code: 'custom', message: unsupportedLanguage(name) });
    return z.NEVER;
  }
  return language;
});

/** Free-form labels kept with a context (extension): the MCP side stores its description here. */
export const ContextMetadata = z.record(z.string(), z.string());

/**
 * A tenant's share of the sandbox (extension): the sandbox counts the live contexts (and
 * those being created) of every session whose name starts with `session_prefix`, and
 * refuses the creation (429, QUOTA_REFUSAL) when they reach `max_contexts`. Counted and
 * refused in one step, so parallel creations and several MCP instances cannot overshoot.
 */
export const TenantQuota = z.object({
  /** The tenant's session names all start with it; the new context's session must too. */
  session_prefix: z.string().min(1).max(128),
  max_contexts: z.number().int().positive(),
});
export type TenantQuota = z.infer<typeof TenantQuota>;

/**
 * Host patterns of a network policy (E2B's and Alibaba's field names): a host name or IP
 * address, `*.example.com` (the names below it) or `*` (any host); no scheme, port or path.
 */
export const HostPatterns = z.array(z.string().min(1).max(253)).max(256);

/**
 * A context's network policy: the hosts it may reach through the sandbox's policy proxy
 * (`allowOut`) but those it may not (`denyOut`, which wins). Nothing by default; `allowOut`
 * stays within the operator's ceiling (SANDBOX_EGRESS_ALLOW) or the request is refused (403)
 * with a message naming the host.
 */
export const NetworkPolicy = z.object({
  allowOut: HostPatterns.optional(),
  denyOut: HostPatterns.optional(),
});
export type NetworkPolicy = z.input<typeof NetworkPolicy>;

/** POST /contexts body. */
export const CreateContextRequest = z.object({
  language: LanguageName.optional(),
  cwd: z.string().optional(),
  /** extension */
  metadata: ContextMetadata.optional(),
  /** extension */
  quota: TenantQuota.optional(),
  /** The context's network policy (NetworkPolicy); none reachable when both are left out. */
  allowOut: HostPatterns.optional(),
  denyOut: HostPatterns.optional(),
});
export type CreateContextRequest = z.input<typeof CreateContextRequest>;

/** A context as the sandbox reports it (POST /contexts, GET /contexts). */
export const Context = z.object({
  id: z.string(),
  language: z.string(),
  cwd: z.string(),
  /** extension: ISO 8601 */
  created_at: z.string().optional(),
  /** extension: ISO 8601, the end of the last execution */
  last_used: z.string().optional(),
  /** extension */
  metadata: ContextMetadata.optional(),
  /** Its network policy, normalised (where the sandbox has a policy proxy). */
  allowOut: z.array(z.string()).optional(),
  denyOut: z.array(z.string()).optional(),
});
export type Context = z.infer<typeof Context>;

/**
 * extension: `PUT` a NetworkPolicy to replace a live context's (no restart; the next request
 * follows it) → the Context; 403 beyond the operator's ceiling, 404 for an unknown context.
 */
export const CONTEXT_NETWORK_ROUTE = '/contexts/:id/network';

export const ContextList = z.array(Context);

/** An execution's tag (extension): opaque to the sandbox, compared exactly. */
export const RunTag = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'must be 1–128 letters, digits, ".", "_", ":" or "-"');

/** POST /execute body. E2B refuses `context_id` together with `language` (400). */
export const ExecuteRequest = z.object({
  code: z.string(),
  context_id: z.string().optional(),
  language: LanguageName.optional(),
  env_vars: z.record(z.string(), z.string()).optional(),
  /** extension: seconds; the sandbox applies its own default and maximum */
  timeout: z.number().positive().optional(),
  /**
   * extension: a label the caller gives the execution (the MCP side: its tenant and request), so that
   * `POST /runs/interrupt {tag}` can stop it from any other request.
   */
  tag: RunTag.optional(),
  /**
   * extension: seconds; a run still going then is held (see RUN_ROUTES): the stream ends with a
   * `run_held` event and the code goes on, its events kept for `POST /runs/{id}/events`.
   */
  hold_after: z.number().positive().optional(),
  /** extension: a held run's context is deleted once the run's end has been read, or its events expired. */
  discard_context: z.boolean().optional(),
  /** extension: send a `files_changed` event before `end_of_execution`. */
  report_files: z.boolean().optional(),
});
export type ExecuteRequest = z.input<typeof ExecuteRequest>;

// ---- the /execute NDJSON stream: one event per line, null fields left out ----

export const OutputEvent = z.object({
  type: z.enum(['stdout', 'stderr']),
  text: z.string(),
  timestamp: z.number().optional(),
});

/** The MIME-type formats a result may carry (E2B's names); `data`, `chart` and `extra` are E2B's extras, not formats. */
export const RESULT_FORMATS = ['text', 'html', 'markdown', 'svg', 'png', 'jpeg', 'pdf', 'latex', 'json', 'javascript'] as const;
export type ResultFormat = (typeof RESULT_FORMATS)[number];

/** A rich value: the cell's own value (`is_main_result`) or a display such as a plot. */
export const ResultEvent = z.object({
  type: z.literal('result'),
  text: z.string().optional(),
  html: z.string().optional(),
  markdown: z.string().optional(),
  svg: z.string().optional(),
  /** base64 */
  png: z.string().optional(),
  /** base64 */
  jpeg: z.string().optional(),
  pdf: z.string().optional(),
  latex: z.string().optional(),
  json: z.unknown().optional(),
  javascript: z.string().optional(),
  data: z.unknown().optional(),
  chart: z.unknown().optional(),
  extra: z.unknown().optional(),
  is_main_result: z.boolean().optional(),
});
export type ResultEvent = z.infer<typeof ResultEvent>;

/** At most one per execution. `traceback` is one string, without ANSI colour codes. */
export const ErrorEvent = z.object({
  type: z.literal('error'),
  name: z.string(),
  value: z.string(),
  traceback: z.string(),
});
export type ErrorEvent = z.infer<typeof ErrorEvent>;

export const ExecutionCountEvent = z.object({
  type: z.literal('number_of_executions'),
  execution_count: z.number().int(),
});

export const KeepaliveEvent = z.object({ type: z.literal('keepalive') });

/**
 * extension (asked for with `report_files`): the workspace files the execution created or changed
 * (hidden ones left out), found by the session's file worker, sent once before `end_of_execution`.
 */
export const FilesChangedEvent = z.object({
  type: z.literal('files_changed'),
  files: z.array(z.object({ path: z.string(), size: z.number().optional() })),
  /** More changed than the event lists. */
  truncated: z.boolean().optional(),
});
export type FilesChangedEvent = z.infer<typeof FilesChangedEvent>;

/**
 * extension (asked for with `hold_after`): the last line of a stream whose run goes on in the
 * sandbox; the rest of its events are read with `POST /runs/{run_id}/events`. No `end_of_execution` follows.
 */
export const RunHeldEvent = z.object({ type: z.literal('run_held'), run_id: z.string() });
export const EndOfExecutionEvent = z.object({ type: z.literal('end_of_execution') });

export const ExecutionEvent = z.discriminatedUnion('type', [
  OutputEvent,
  ResultEvent,
  ErrorEvent,
  ExecutionCountEvent,
  KeepaliveEvent,
  FilesChangedEvent,
  RunHeldEvent,
  EndOfExecutionEvent,
]);
export type ExecutionEvent = z.infer<typeof ExecutionEvent>;

/**
 * Parses one NDJSON line of the /execute stream. Returns undefined for an event type
 * this side does not know (the protocol may grow); throws on a malformed line.
 */
export function parseExecutionEvent(line: string): ExecutionEvent | undefined {
  const parsed = ExecutionEvent.safeParse(JSON.parse(line));
  if (parsed.success) return parsed.data;
  // The union itself knows its types: zod names an unknown one "No matching discriminator".
  const unknownType = parsed.error.issues.some((issue) => issue.code === 'invalid_union' && issue.path.join('.') === 'type');
  if (unknownType) return undefined;
  throw parsed.error;
}

/** Serialises one event as an NDJSON line, leaving out undefined and null fields. */
export function formatExecutionEvent(event: ExecutionEvent): string {
  // Only the event's own null fields go: a chart's null title or unit is data (E2B sends it).
  return `${JSON.stringify(event, function (this: unknown, _key, value: unknown) {
    return value === null && this === event ? undefined : value;
  })}\n`;
}

/** Names of the errors the sandbox itself reports in the stream (besides the code's own). */
export const SANDBOX_ERROR_NAMES = {
  timeout: 'TimeoutError',
  kernelDied: 'KernelDiedError',
  outputLimit: 'OutputLimitExceeded',
  /** The context was deleted or lost while the code waited or ran. */
  context: 'ContextError',
  /** Someone asked for the execution to stop (POST /runs/interrupt, /runs/{id}/interrupt). */
  cancelled: 'CancelledError',
} as const;

// ---- files: Alibaba's code-interpreter image's file API, which the sandbox service serves too ----
// Paths are inside the context's filesystem: relative to the workspace (WORKSPACE_DIR) or absolute under it.

/** Where a session's files live, as code inside sees them (E2B's and Alibaba's default cwd). */
export const WORKSPACE_DIR = '/home/user';

export const FILE_ROUTES = {
  /** GET ?path= → FileContent; POST WriteFileRequest → WrittenFile */
  files: '/files',
  /** GET ?path=&depth= → DirectoryListing */
  list: '/filesystem',
  /** GET ?path= → EntryResponse */
  stat: '/filesystem/stat',
  /** GET ?path= → the raw bytes, with Content-Disposition */
  download: '/filesystem/download',
  /** POST multipart/form-data: fields `path` and `file`, in either order → WrittenFile */
  upload: '/filesystem/upload',
  /** POST MkdirRequest → EntryResponse */
  mkdir: '/filesystem/mkdir',
  /** POST MoveRequest → EntryResponse */
  move: '/filesystem/move',
  /** POST RemoveRequest → EntryResponse */
  remove: '/filesystem/remove',
} as const;

export const FILE_ENCODINGS = ['utf-8', 'base64'] as const;
export type FileEncoding = (typeof FILE_ENCODINGS)[number];

/** A file or directory. The cloud image's exact field set is unverified: only name, path and type are required. */
export const FileEntry = z.object({
  name: z.string(),
  type: z.string(),
  path: z.string(),
  size: z.number().optional(),
  /** octal, e.g. "0644" */
  mode: z.string().optional(),
  /** e.g. "-rw-r--r--" */
  permissions: z.string().optional(),
  owner: z.string().optional(),
  group: z.string().optional(),
  /** ISO 8601 */
  modifiedTime: z.string().optional(),
});
export type FileEntry = z.infer<typeof FileEntry>;

export const FILE_ENTRY_TYPES = ['file', 'directory', 'symlink', 'other'] as const;

/**
 * A FileEntry as this project's sandbox service answers it: every field, always, and one of
 * FILE_ENTRY_TYPES. A client must still take the looser FileEntry from other sandboxes.
 */
export const CompleteFileEntry = FileEntry.required().extend({
  type: z.enum(FILE_ENTRY_TYPES),
  /** ISO 8601 with microseconds, so a file rewritten within a second shows as changed. */
  modifiedTime: z.string(),
});
export type CompleteFileEntry = z.infer<typeof CompleteFileEntry>;

export const FileContent = FileEntry.extend({ content: z.string(), encoding: z.enum(FILE_ENCODINGS) });

/** A file's bytes as text, when they are valid UTF-8 without NUL bytes (else it goes as base64, or as a blob). */
export function fileText(bytes: Uint8Array): string | undefined {
  if (bytes.includes(0)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}
export type FileContent = z.infer<typeof FileContent>;

const FileMode = z.string().regex(/^0?[0-7]{3}$/, 'must be an octal mode such as "644"');

export const WriteFileRequest = z.object({
  path: z.string().min(1),
  content: z.string(),
  encoding: z.enum(FILE_ENCODINGS).optional(),
  mode: FileMode.optional(),
  /** Create missing parent directories (default true). */
  createDir: z.boolean().optional(),
});
export type WriteFileRequest = z.input<typeof WriteFileRequest>;

export const WrittenFile = z.object({ path: z.string(), size: z.number() });
export type WrittenFile = z.infer<typeof WrittenFile>;

export const DirectoryListing = z.object({
  path: z.string(),
  entries: z.array(FileEntry),
  /** extension: the listing stopped at the sandbox's entry limit */
  truncated: z.boolean().optional(),
});
export type DirectoryListing = z.infer<typeof DirectoryListing>;
/** A DirectoryListing as this project's sandbox service answers it (complete entries, `truncated` always said). */
export const CompleteDirectoryListing = DirectoryListing.extend({ entries: z.array(CompleteFileEntry), truncated: z.boolean() });
export type CompleteDirectoryListing = z.infer<typeof CompleteDirectoryListing>;

export const EntryResponse = z.object({ entry: FileEntry });
export type EntryResponse = z.infer<typeof EntryResponse>;
/** An EntryResponse as this project's sandbox service answers it. */
export const CompleteEntryResponse = z.object({ entry: CompleteFileEntry });
export type CompleteEntryResponse = z.infer<typeof CompleteEntryResponse>;

export const MkdirRequest = z.object({ path: z.string().min(1), parents: z.boolean().optional(), mode: FileMode.optional() });
export const MoveRequest = z.object({ source: z.string().min(1), destination: z.string().min(1) });
export const RemoveRequest = z.object({ path: z.string().min(1) });

/**
 * Every refusal of the sandbox service carries a stable code in this response header
 * (extension), one of REFUSAL_CODES; the body stays the plain-text message E2B's clients
 * read. Clients tell refusals apart by the code, never by the message's words.
 */
export const REFUSAL_CODE_HEADER = 'x-sandbox-refusal';

/** The refusal codes and the HTTP status each is answered with. */
export const REFUSAL_CODES = {
  /** the request is malformed or asks for something impossible; the message says what */
  invalid_request: 400,
  /** the sandbox's API token is missing or wrong (SANDBOX_API_TOKEN) */
  unauthorized: 401,
  /** a web page's request (foreign Host or Origin), or the file worker's "permission denied" */
  forbidden: 403,
  /** a context, run or process the session does not hold */
  not_found: 404,
  /** a file route asked for a session without live contexts (EXISTING_SESSION_HEADER); begins with UNKNOWN_SESSION_REFUSAL */
  unknown_session: 404,
  /** no such file or directory in the workspace */
  file_not_found: 404,
  /** a network policy (allowOut, denyOut) beyond the operator's ceiling, or where none can be enforced; begins with NETWORK_REFUSAL */
  network_refused: 403,
  /** a network policy that is not one: a host pattern that is none; begins with NETWORK_REFUSAL */
  invalid_host_pattern: 400,
  /** the path exists already, or is a directory that is not empty */
  conflict: 409,
  /** a run's events before the position asked for were read already */
  gone: 410,
  /** a body or file over the sandbox's limit (the message names the variable) */
  too_large: 413,
  /** a body that is not JSON (multipart for uploads) */
  unsupported_media_type: 415,
  /** the tenant holds as many contexts as its TenantQuota allows; begins with QUOTA_REFUSAL */
  quota_reached: 429,
  /** the context, the session or the sandbox holds as many runs as it takes; begins with RUNS_REFUSAL */
  too_many_runs: 429,
  /** the sandbox holds as many contexts (SANDBOX_MAX_CONTEXTS) or the session as many commands as they may */
  at_capacity: 429,
  /** the client went away before its request was whole */
  client_closed: 499,
  /** the sandbox failed; the message says how */
  internal: 500,
  /** the sandbox is shutting down, or a session's file worker ended */
  unavailable: 503,
  /** a context did not start within CONTEXT_START_TIMEOUT_SECONDS (limits.ts); the message says so */
  start_timeout: 504,
  /** the workspace's disk limit is reached */
  workspace_full: 507,
} as const;
export type RefusalCode = keyof typeof REFUSAL_CODES;

/** The code a status is refused with when nothing more precise applies. */
export function refusalCodeForStatus(status: number): RefusalCode {
  const code = (Object.keys(REFUSAL_CODES) as RefusalCode[]).find((name) => REFUSAL_CODES[name] === status);
  return code ?? (status >= 500 ? 'internal' : 'invalid_request');
}

/** The refusal code of a sandbox's answer; undefined from a sandbox that sends none (not this project's). */
export function refusalCodeOf(headers: Headers): RefusalCode | undefined {
  const code = headers.get(REFUSAL_CODE_HEADER);
  return code !== null && Object.hasOwn(REFUSAL_CODES, code) ? (code as RefusalCode) : undefined;
}

/**
 * How the sandbox's refusals that a client must tell apart begin (extension): a 429 for a
 * creation over its TenantQuota, and a file route's 404 for a session without live
 * contexts (a stopped or expired one: file routes never create a session).
 */
export const QUOTA_REFUSAL = 'tenant quota reached';
/** How a refused network policy's text begins (400 for a pattern that is none, 403 beyond the operator's ceiling). */
export const NETWORK_REFUSAL = 'network policy';
/** The start of a 429 body refusing an /execute: the context, the session or the sandbox holds as many runs (or as much code waiting) as it takes. */
export const RUNS_REFUSAL = 'too many runs';
export const UNKNOWN_SESSION_REFUSAL = 'unknown or expired context';

/**
 * A request header (extension; any value) saying that the session must exist already: a file
 * route then answers a session without a workspace with UNKNOWN_SESSION_REFUSAL instead of
 * opening one. Without it a file route opens the session's workspace, as AgentRun's and E2B's
 * sandboxes have a filesystem from the start. The MCP side sends it on every request: its
 * sessions come from contexts, and a stopped context's id must bring nothing back.
 */
export const EXISTING_SESSION_HEADER = 'x-sandbox-existing-session';

/** GET /sessions (extension): the sessions holding live contexts, for a client that gives each context a session of its own. */
export const SESSIONS_ROUTE = '/sessions';
export const SessionList = z.array(z.string());

// ---- runs (extension): executions that outlive their request, read and stopped from any request ----

/**
 * A run is an execution the sandbox keeps a record of: every /execute while it lasts, and a held
 * run (`hold_after`) until its events have been read to the end or RUN_RETENTION_SECONDS after it
 * ended. Runs are found in the session that started them only.
 */
export const RUN_ROUTES = {
  /** POST RunEventsRequest → RunEvents; 404 for an unknown run */
  events: '/runs/:id/events',
  /** POST (no body) → RunStatus; 404 for an unknown run */
  interrupt: '/runs/:id/interrupt',
  /** POST InterruptTaggedRequest → InterruptedRuns */
  interruptTagged: '/runs/interrupt',
} as const;

/** How long a held run's record and unread events stay after the run ended, seconds. */
export const RUN_RETENTION_SECONDS = 600;
/** The longest a read of a run's events waits for one, seconds. */
export const MAX_RUN_WAIT_SECONDS = 60;

export const RunEventsRequest = z.object({
  /**
   * Read from this position (0 = the first event after `run_held`) without regard to what was
   * read before; events already read past are gone (410). Without it: from where the last read
   * ended, so each event is read once.
   */
  after: z.number().int().nonnegative().optional(),
  /** Wait up to this long for an event when none is there yet (default 0). */
  wait_seconds: z.number().nonnegative().max(MAX_RUN_WAIT_SECONDS).optional(),
  /** What the wait is for: the first new event (default), or the end of the run (then all events up to then). */
  until: z.enum(['event', 'end']).optional(),
});
export type RunEventsRequest = z.input<typeof RunEventsRequest>;

export const RUN_STATES = ['running', 'done'] as const;

export const RunStatus = z.object({
  run_id: z.string(),
  status: z.enum(RUN_STATES),
  /** The context the run runs in. */
  context_id: z.string(),
});

export const RunEvents = RunStatus.extend({
  /** Execution events, in order (keepalives left out; the last one of a finished run is `end_of_execution`). */
  events: z.array(z.record(z.string(), z.unknown())),
  /** The position after these events. */
  next: z.number().int().nonnegative(),
  /** The run's context was deleted with the end of the run (`discard_context`). */
  context_discarded: z.boolean().optional(),
  /** The run's context goes with the end of the run (it was started with `discard_context`): nothing saved there lasts. */
  discard_context: z.boolean().optional(),
});
export type RunEvents = z.infer<typeof RunEvents>;

export const InterruptTaggedRequest = z.object({
  tag: RunTag,
  /**
   * A tag that finds no run stops a run that starts with it soon after (a cancel can overtake its
   * call); false for a caller whose call will not start again (its client went away). Default true.
   */
  early: z.boolean().optional(),
});
export const InterruptedRuns = z.object({ interrupted: z.number().int().nonnegative() });
export type InterruptedRuns = z.infer<typeof InterruptedRuns>;

// ---- packages (extension): install_packages, into the session's workspace ----

/** POST InstallPackagesRequest → InstallPackagesResult; 400 for a manager the context's language does not use, 404 for an unknown context. */
export const PACKAGES_ROUTE = '/contexts/:id/packages';

export const PACKAGE_MANAGERS = ['pip', 'npm'] as const;
export type PackageManager = (typeof PACKAGE_MANAGERS)[number];
/** Which manager serves a context's language (a context of another language installs nothing). */
export const MANAGER_OF_LANGUAGE: Partial<Record<Language, PackageManager>> = { python: 'pip', javascript: 'npm', typescript: 'npm' };
/** Packages one request may name. */
export const MAX_PACKAGES = 50;

/**
 * What a package spec may be: a name and a version constraint, nothing the manager would take for
 * an option (`-r file`, `--index-url …`), a URL, a path or a git source, so the operator's index
 * stays the only source. pip: a PEP 508 name, extras, version specifiers (`pandas`, `requests[socks]>=2,<3`);
 * no environment markers. npm: a name, scoped or not, and a version, range or tag (`lodash`,
 * `@types/node@^20`); no `npm:`, `file:`, `git+…` or `user/repo` sources.
 */
export const PACKAGE_SPEC_PATTERNS: Record<PackageManager, RegExp> = {
  pip: /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(?:\[[A-Za-z0-9._-]+(?:,[A-Za-z0-9._-]+)*\])?(?:(?:===|==|!=|~=|<=|>=|<|>)[A-Za-z0-9.*+!_-]+(?:,(?:===|==|!=|~=|<=|>=|<|>)[A-Za-z0-9.*+!_-]+)*)?$/,
  npm: /^(?:@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*(?:@[A-Za-z0-9.^~<>=*|+_][A-Za-z0-9.^~<>=*|+_ -]*)?$/,
};
const PACKAGE_SPEC_RULES: Record<PackageManager, string> = {
  pip: 'a name with optional extras and version specifiers, e.g. "pandas", "requests[socks]>=2,<3", "numpy==1.26.4"',
  npm: 'a name (scoped or not) with an optional version, range or tag, e.g. "lodash", "@types/node@^20", "chalk@5.3.0"',
};

/** Why a spec is refused for a manager, or undefined when it is a plain name and version. */
export function packageSpecRefusal(manager: PackageManager, spec: string): string | undefined {
  if (spec.length > 200) return `package spec "${spec.slice(0, 40)}…" is longer than 200 characters`;
  if (PACKAGE_SPEC_PATTERNS[manager].test(spec)) return undefined;
  const why = spec.startsWith('-')
    ? 'options are not accepted as packages'
    : /[:/\\]/.test(spec)
      ? "URLs, paths and other sources are not accepted: packages come from the operator's index only"
      : `a ${manager} package is ${PACKAGE_SPEC_RULES[manager]}`;
  return `package spec ${JSON.stringify(spec)} refused: ${why}`;
}

export const InstallPackagesRequest = z
  .object({
    /** Default: the context's language's (MANAGER_OF_LANGUAGE). */
    manager: z.enum(PACKAGE_MANAGERS).optional(),
    packages: z.array(z.string().trim().min(1)).min(1).max(MAX_PACKAGES),
    /** seconds; the sandbox applies its own default and maximum (those of an execution) */
    timeout: z.number().positive().optional(),
  })
  .superRefine((request, ctx) => {
    // Without a manager the sandbox checks the specs once it knows the context's (packageSpecRefusal).
    const manager = request.manager;
    if (manager === undefined) return;
    request.packages.forEach((spec, index) => {
      const refusal = packageSpecRefusal(manager, spec);
      if (refusal) ctx.addIssue({ code: 'custom', message: refusal, path: ['packages', index] });
    });
  });
export type InstallPackagesRequest = z.input<typeof InstallPackagesRequest>;

export const InstalledPackage = z.object({ name: z.string(), version: z.string() });
export type InstalledPackage = z.infer<typeof InstalledPackage>;

export const InstallPackagesResult = z.object({
  manager: z.enum(PACKAGE_MANAGERS),
  /** The install succeeded and its packages import in the context. */
  ok: z.boolean(),
  /** What this install added (dependencies included), with versions; empty when every package was there already. */
  installed: z.array(InstalledPackage),
  /** The manager's own output, stdout and stderr together, bounded by the sandbox's output cap. */
  output: z.string(),
  exit_code: z.number().int(),
  /** Why the sandbox stopped the install (timeout, output cap, memory), when it did. */
  error: z.string().optional(),
});
export type InstallPackagesResult = z.infer<typeof InstallPackagesResult>;

/**
 * Limits both programs hold to the same value: declared once here, so the MCP server's
 * defaults and the sandbox service's agree. Each is a default or a bound; the settings
 * (the MCP server's config.ts, the sandbox service's settings.ts) say which variable
 * changes it.
 */

/** A run's timeout when the caller names none, seconds (RUN_TIMEOUT_SECONDS, SANDBOX_EXECUTE_TIMEOUT_SECONDS). */
export const DEFAULT_RUN_TIMEOUT_SECONDS = 300;

/** The longest timeout a run may ask for, seconds (run_code's `timeout`; SANDBOX_MAX_EXECUTE_TIMEOUT_SECONDS). */
export const MAX_RUN_TIMEOUT_SECONDS = 3600;

/** The largest request body either HTTP face takes by default, bytes (MCP_MAX_BODY_BYTES, SANDBOX_MAX_BODY_BYTES). */
export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;

/**
 * How long a context's creation may take, seconds, from the request to a kernel that answers:
 * the sandbox refuses past it, with what it waited for, and undoes the context once its start
 * ends. The MCP side waits a margin longer for that answer (its client.ts), so an agent hears
 * the sandbox's reason, not that the sandbox fell silent. A Python or R kernel on a busy
 * machine needs its 30 s; with the margin it stays under the 60 s a 1.x MCP client waits.
 */
export const CONTEXT_START_TIMEOUT_SECONDS = 30;

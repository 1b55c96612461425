/**
 * The guarded URL fetch's default bounds, apart from the fetch itself: config.ts reads them at
 * start, while public-fetch.ts (ipaddr.js, node:https, node:dns) loads on write_file's first URL.
 */

/** How long a whole download may take, redirects included (MCP_FETCH_TIMEOUT_SECONDS). */
export const DEFAULT_DEADLINE_MS = 120_000;
/** The slowest average rate a body may keep once past its grace (MCP_FETCH_MIN_BYTES_PER_SECOND). */
export const DEFAULT_MIN_BYTES_PER_SECOND = 16 * 1024;

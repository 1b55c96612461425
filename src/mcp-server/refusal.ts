/**
 * What a tool call can fail with, by kind: the stable names a program branches on in a
 * failed call's `structuredContent.error.kind` (tools/tool-failure.ts), listed in
 * docs/mcp-protocol.md.
 */

export const TOOL_FAILURE_KINDS = [
  'invalid_arguments',
  'unknown_context',
  'unknown_run',
  'unknown_result',
  'sandbox_not_found',
  'sandbox_unreachable',
  'sandbox_timeout',
  'sandbox_http',
  'sandbox_protocol',
  'sandbox_file_not_found',
  'sandbox_no_file_api',
  'invalid_path',
  'file_too_large',
  'fetch_failed',
  'install_failed',
  'too_many_contexts',
  'too_many_runs',
  'network_refused',
  'cancelled',
  'session_api',
  'internal',
] as const;

export type ToolFailureKind = (typeof TOOL_FAILURE_KINDS)[number];

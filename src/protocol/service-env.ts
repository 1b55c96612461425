/**
 * The sandbox service's environment variables (SANDBOX_*), each read as text or a
 * number: the names both programs share. `npm run sandbox` reads them into its settings
 * (sandbox-service settings); npm start's config reads the same ones to pass them on to
 * the sandbox service it starts, and uses two of them itself (the token it sends, the
 * session header). Which values each takes is the sandbox service's settings' to say.
 */
import { z } from 'zod';
import { envBoolean, envNumber, envText } from '../shared/env.ts';
import { SessionHeaderName } from './sandbox-api.ts';

/**
 * The sandbox service's variables, each read as text here; what values its option
 * takes (ranges, the token's alphabet, how options depend on each other) is
 * `SandboxOptions`'s to say.
 */
export const SandboxEnv = z.object({
  SANDBOX_HOST: envText,
  SANDBOX_PORT: envNumber,
  /** The token callers must send; npm start also sends it (or makes one) as the MCP side's client. */
  SANDBOX_API_TOKEN: envText,
  /** Read by both sides of npm start: the MCP side sends it, the sandbox namespaces contexts by it. */
  SANDBOX_SESSION_HEADER: envText.pipe(SessionHeaderName.optional()),
  SANDBOX_ALLOW_NETWORK: envBoolean,
  /** Host patterns, comma-separated: what any context's network policy may allow. */
  SANDBOX_EGRESS_ALLOW: envText,
  /** Host patterns whose private addresses the policy proxy may reach. */
  SANDBOX_EGRESS_PRIVATE_HOSTS: envText,
  /** JSON host → headers the policy proxy adds (a secret: never repeated in an error). */
  SANDBOX_EGRESS_HEADERS: envText,
  SANDBOX_EGRESS_ADVISORY: envBoolean,
  /** auto, on or off: whether the sandbox runs its kernels in the jail. */
  SANDBOX_JAIL: envText,
  /** The old name of SANDBOX_MEMORY_MB, still read; the new name wins when both are set. */
  SANDBOX_KERNEL_MEMORY_MB: envNumber,
  SANDBOX_MEMORY_MB: envNumber,
  SANDBOX_PIDS_MAX: envNumber,
  SANDBOX_DISK_MB: envNumber,
  SANDBOX_CPUS: envNumber,
  SANDBOX_TENANT_CPUS: envNumber,
  SANDBOX_MAX_CONTEXTS: envNumber,
  SANDBOX_EXECUTE_TIMEOUT_SECONDS: envNumber,
  SANDBOX_MAX_EXECUTE_TIMEOUT_SECONDS: envNumber,
  SANDBOX_OUTPUT_LIMIT_BYTES: envNumber,
  SANDBOX_MAX_KERNEL_MESSAGE_BYTES: envNumber,
  SANDBOX_MAX_OUTPUT_EVENTS: envNumber,
  SANDBOX_MAX_QUEUED_RUNS: envNumber,
  SANDBOX_MAX_SESSION_RUNS: envNumber,
  SANDBOX_QUEUED_CODE_MB: envNumber,
  SANDBOX_IDLE_TIMEOUT_SECONDS: envNumber,
  SANDBOX_POOL_SIZE: envNumber,
  SANDBOX_WORKSPACE_ROOT: envText,
  SANDBOX_KEEPALIVE_SECONDS: envNumber,
  SANDBOX_MAX_UPLOAD_MB: envNumber,
  SANDBOX_MAX_READ_MB: envNumber,
  SANDBOX_MAX_BODY_BYTES: envNumber,
  SANDBOX_UID_BASE: envNumber,
  SANDBOX_PIP_INDEX_URL: envText,
  SANDBOX_NPM_REGISTRY: envText,
});
export type SandboxEnv = z.output<typeof SandboxEnv>;

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
 * The sandbox service's variables, each declared once here: read as text or a number, and
 * paired with the option of the sandbox service's settings it sets (`.meta({ option })`, a key
 * of its `SandboxOptions`; of two variables for one option, the later wins). What values the
 * option takes (ranges, the token's alphabet, how options depend on each other) is
 * `SandboxOptions`'s to say.
 */
export const SandboxEnv = z.object({
  SANDBOX_HOST: envText.meta({ option: 'host' }),
  SANDBOX_PORT: envNumber.meta({ option: 'port' }),
  /** The token callers must send; npm start also sends it (or makes one) as the MCP side's client. */
  SANDBOX_API_TOKEN: envText.meta({ option: 'apiToken' }),
  /** Read by both sides of npm start: the MCP side sends it, the sandbox namespaces contexts by it. */
  SANDBOX_SESSION_HEADER: envText.pipe(SessionHeaderName.optional()).meta({ option: 'sessionHeader' }),
  SANDBOX_ALLOW_NETWORK: envBoolean.meta({ option: 'allowNetwork' }),
  /** Host patterns, comma-separated: what any context's network policy may allow. */
  SANDBOX_EGRESS_ALLOW: envText.meta({ option: 'egressAllow' }),
  /** Host patterns whose private addresses the policy proxy may reach. */
  SANDBOX_EGRESS_PRIVATE_HOSTS: envText.meta({ option: 'egressPrivateHosts' }),
  /** JSON host → headers the policy proxy adds (a secret: never repeated in an error). */
  SANDBOX_EGRESS_HEADERS: envText.meta({ option: 'egressHeaders' }),
  SANDBOX_EGRESS_ADVISORY: envBoolean.meta({ option: 'egressAdvisory' }),
  /** auto, on or off: whether the sandbox runs its kernels in the jail. */
  SANDBOX_JAIL: envText.meta({ option: 'jail' }),
  /** The old name of SANDBOX_MEMORY_MB, still read; the new name wins when both are set. */
  SANDBOX_KERNEL_MEMORY_MB: envNumber.meta({ option: 'memoryMb' }),
  SANDBOX_MEMORY_MB: envNumber.meta({ option: 'memoryMb' }),
  SANDBOX_PIDS_MAX: envNumber.meta({ option: 'pidsMax' }),
  SANDBOX_DISK_MB: envNumber.meta({ option: 'diskMb' }),
  SANDBOX_CPUS: envNumber.meta({ option: 'cpus' }),
  SANDBOX_TENANT_CPUS: envNumber.meta({ option: 'tenantCpus' }),
  SANDBOX_MAX_CONTEXTS: envNumber.meta({ option: 'maxContexts' }),
  SANDBOX_EXECUTE_TIMEOUT_SECONDS: envNumber.meta({ option: 'executeTimeoutSeconds' }),
  SANDBOX_MAX_EXECUTE_TIMEOUT_SECONDS: envNumber.meta({ option: 'maxExecuteTimeoutSeconds' }),
  SANDBOX_OUTPUT_LIMIT_BYTES: envNumber.meta({ option: 'outputLimitBytes' }),
  SANDBOX_MAX_KERNEL_MESSAGE_BYTES: envNumber.meta({ option: 'kernelMessageBytes' }),
  SANDBOX_MAX_OUTPUT_EVENTS: envNumber.meta({ option: 'maxOutputEvents' }),
  SANDBOX_MAX_QUEUED_RUNS: envNumber.meta({ option: 'maxQueuedRuns' }),
  SANDBOX_MAX_SESSION_RUNS: envNumber.meta({ option: 'maxSessionRuns' }),
  SANDBOX_QUEUED_CODE_MB: envNumber.meta({ option: 'queuedCodeMb' }),
  SANDBOX_IDLE_TIMEOUT_SECONDS: envNumber.meta({ option: 'idleTimeoutSeconds' }),
  SANDBOX_POOL_SIZE: envNumber.meta({ option: 'poolSize' }),
  SANDBOX_WORKSPACE_ROOT: envText.meta({ option: 'workspaceRoot' }),
  SANDBOX_KEEPALIVE_SECONDS: envNumber.meta({ option: 'keepaliveSeconds' }),
  SANDBOX_MAX_UPLOAD_MB: envNumber.meta({ option: 'maxUploadMb' }),
  SANDBOX_MAX_READ_MB: envNumber.meta({ option: 'maxReadMb' }),
  SANDBOX_MAX_BODY_BYTES: envNumber.meta({ option: 'maxBodyBytes' }),
  SANDBOX_UID_BASE: envNumber.meta({ option: 'uidBase' }),
  SANDBOX_PIP_INDEX_URL: envText.meta({ option: 'pipIndexUrl' }),
  SANDBOX_NPM_REGISTRY: envText.meta({ option: 'npmRegistry' }),
});
export type SandboxEnv = z.output<typeof SandboxEnv>;

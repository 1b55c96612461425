/**
 * What a platform that runs the sandbox service as a container sets, on top of SANDBOX_*:
 * Function Compute gives the port to listen on in FC_CUSTOM_LISTEN_PORT (fc3's local
 * emulation in FC_SERVER_PORT), and it wins over SANDBOX_PORT. The image sets
 * SANDBOX_HOST=0.0.0.0 (FC's health check and trigger come from outside the container).
 */
import type { Env } from '../shared/env.ts';

export function withPlatformPort(env: Env): Env {
  const port = env.FC_CUSTOM_LISTEN_PORT || env.FC_SERVER_PORT;
  return port ? { ...env, SANDBOX_PORT: port } : env;
}

/**
 * The MCP function as s.yaml deploys it, on stand-ins for the cloud: s.yaml rendered by
 * `s preview`, the built bundle started the FC way (./fc-bundle.ts) with the rendered
 * environment, and behind it a real sandbox service reached through a stand-in for FC's
 * signature-checking trigger gateway, plus a stand-in for the FC Session API. Shared by
 * the runtime-contract and the event tests.
 */
import type { ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import type { RunningSandbox } from '../../src/sandbox-service/index.ts';
import { codeFolder, type FcInstance, fcVariables, startFcProcess } from './fc-bundle.ts';
import { type FcOpenApiStandIn, type StandInCredentials, startFcOpenApiStandIn } from './fc-openapi-stand-in.ts';
import { type RenderedResource, renderServerlessYaml } from './fc-render-yaml.ts';
import { type FcTriggerStandIn, startFcTriggerStandIn } from './fc-trigger-stand-in.ts';
import { ROOT, startTestSandbox } from './mcp-harness.ts';
import { freePort, stopChild } from './processes.ts';

export interface FcDeploymentOptions {
  /** The deploy environment's secrets, as s.yaml reads them. */
  contextSecret: string;
  authToken: string;
  /** The MCP function role's temporary credentials, which FC hands to the instance. */
  role: StandInCredentials;
  accountId: string;
  portVariable?: FcInstance['portVariable'];
  instanceId?: string;
  /** The token s.yaml hands both functions (default: one for tests). */
  sandboxApiToken?: string;
  /**
   * The sandbox behind the trigger gateway stand-in: default a real sandbox service started
   * here, with the token; the image test passes its container's URL instead.
   */
  sandbox?: { url: string; close(): Promise<void> };
  /**
   * A trigger gateway stand-in started by the caller (e.g. in its own process, routing each
   * session to an instance: fc-trigger-process.ts), which the deployment uses and closes;
   * default one in this process in front of `sandbox`.
   */
  gateway?: FcTriggerStandIn;
  /** Variables added to the function's environment (over s.yaml's). */
  environment?: Record<string, string>;
}

export interface FcDeployment {
  /** The rendered mcp resource's props (customRuntimeConfig, environmentVariables, …). */
  mcp: RenderedResource['props'];
  /** The rendered sandbox resource's props (its session affinity, …). */
  sandboxFunction: RenderedResource['props'];
  codeDir: string;
  sandbox: Pick<RunningSandbox, 'url' | 'close'>;
  gateway: FcTriggerStandIn;
  api: FcOpenApiStandIn;
  /** Where the bundle listens on loopback. */
  port: number;
  child: ChildProcess;
  /** The bundle's stdout and stderr as they arrived. */
  output(): string;
  /** Stops the bundle and the stand-ins and removes the code folder. */
  close(): Promise<void>;
}

export async function startFcDeployment(options: FcDeploymentOptions): Promise<FcDeployment> {
  const rendered = await renderServerlessYaml(ROOT, {
    CONTEXT_SECRET: options.contextSecret,
    MCP_AUTH_TOKEN: options.authToken,
    SANDBOX_API_TOKEN: options.sandboxApiToken ?? 'fc-deployment-sandbox-token-0123',
  });
  const mcp = rendered.resources.mcp!.props;
  const sandboxFunction = rendered.resources.sandbox!.props;
  const cleanups: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  };
  try {
    const codeDir = await codeFolder();
    cleanups.push(() => rm(codeDir, { recursive: true, force: true }));
    const sandbox = options.sandbox ?? (await startTestSandbox());
    cleanups.push(() => sandbox.close());
    const gateway = options.gateway ?? (await startFcTriggerStandIn({ credentials: options.role, upstream: sandbox.url }));
    cleanups.push(() => gateway.close());
    const api = await startFcOpenApiStandIn({ credentials: options.role, functions: [sandboxFunction.functionName] });
    cleanups.push(() => api.close());

    const port = await freePort();
    const env: Record<string, string> = {
      // what s.yaml sets, with SANDBOX_URL as s deploy would resolve it
      ...(mcp.environmentVariables as Record<string, string>),
      SANDBOX_URL: gateway.url,
      // the stand-in takes the place of <account>.<region>.fc.aliyuncs.com
      SESSION_API_ENDPOINT: api.endpoint,
      SESSION_API_PROTOCOL: 'http',
      ...options.environment,
      // what FC sets for a function with a role
      ...fcVariables({
        port,
        portVariable: options.portVariable,
        functionName: mcp.functionName,
        region: mcp.region,
        accountId: options.accountId,
        instanceId: options.instanceId,
        role: options.role,
      }),
    };
    const { child, output } = await startFcProcess(codeDir, mcp.customRuntimeConfig, env);
    cleanups.push(() => stopChild(child));
    return { mcp, sandboxFunction, codeDir, sandbox, gateway, api, port, child, output, close };
  } catch (error) {
    await close();
    throw error;
  }
}

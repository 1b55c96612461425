/**
 * The `@example`s of fc.ts and fc-trigger-signature.ts, where the type checker sees
 * them: each region is the example's text, and test/repo/examples.fast.test.ts holds the doc
 * comment to it word for word. Nothing imports this file; it is never run.
 */
import { createSandboxClient } from '../sandbox-client/client.ts';
import { createFcSessions } from './fc.ts';
import { signForFcTrigger } from './fc-trigger-signature.ts';
import type { AlibabaCredentials } from './types.ts';

export async function createFcSessionsExample(credentials: AlibabaCredentials, tenantTag: string) {
  // #region createFcSessions
  const sessions = createFcSessions({
    functionName: 'ci-sandbox',
    qualifier: 'LATEST',
    region: 'cn-hangzhou',
    accountId: '123',
    protocol: 'https',
    credentials,
    sessionTTLInSeconds: 3600,
    sessionIdleTimeoutInSeconds: 1800,
  });
  const { id } = await sessions.open(tenantTag, 20);
  // #endregion
  return id;
}

export function signForFcTriggerExample(credentials: AlibabaCredentials, baseUrl: string, sessionHeader: string) {
  // #region signForFcTrigger
  createSandboxClient({ baseUrl, sessionHeader, authorize: signForFcTrigger(credentials) });
  // #endregion
}

/**
 * Fair sharing under attack in the image, as s.yaml deploys it: the MCP function's built bundle
 * shared by both tenants, and the sandbox image under a real engine behind the stand-ins for
 * FC's trigger gateway and Session API. FC gives every session an instance of its own
 * (`sessionConcurrencyPerInstance: 1`, one session per context), so what tenants share there
 * is the MCP function, never a sandbox's CPU: here bob's sessions reach one container and
 * alice's another, the gateway stand-in routing by the affinity header as FC does.
 *
 * Stand-in for FC's separate instances: on this host both containers share two cores with the
 * bundle and both clients, which FC's instances never do. Alice's container runs in a cgroup of
 * its own at the top of the CPU hierarchy that gets only the CPU nothing else wants (`cpu.idle`,
 * ../support/background-cgroup.ts), so that her instance's loops take what is left over, as on
 * hardware of their own; what her attacks cost the shared MCP function is measured as it is.
 * Where that group cannot be made (not root, no `cpu.idle`, an engine that makes cgroups through
 * systemd), her container runs at the engine's least CPU weight (`--cpu-shares 2`) alone, which
 * orders it only against bob's container, and the 3× check is skipped, saying why. Sessions
 * sharing one container are not fair (×7.31, docs/limits.md): that is why s.yaml keeps one per
 * instance.
 *
 * Alice runs every attack of the security review at once (test/support/fair-attacks.ts, from a
 * process of her own at nice 19); bob's trivial run_code keeps answering, with no error, at a
 * p99 within 3× his p99 on the idle deployment.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startFcDeployment } from '../support/fc-deployment.ts';
import { startFcTriggerProcess } from '../support/fc-trigger-process.ts';
import { renderServerlessYaml } from '../support/fc-render-yaml.ts';
import { FAIR_AUTH_TOKEN, type FairStack, fairStackOn, measureFairness } from '../support/fair-sharing.ts';
import { ROOT } from '../support/mcp-harness.ts';
import { backgroundCgroup } from '../support/background-cgroup.ts';
import { type Container, cgroupManager, fcSandboxEnvironment, requireImage, startContainer } from '../support/sandbox-container.ts';

const RUNS = 1000;
const ROLE = { accessKeyId: 'STS.fair-role-key', accessKeySecret: 'fair-role-secret', securityToken: 'fair-role-token' };
const ACCOUNT_ID = '1234567890123456';
const SANDBOX_API_TOKEN = 'fair-image-sandbox-token-0123456789';
const CONTEXT_SECRET = 'fair-image-context-secret-32chars';

let stack: FairStack;
const containers: Container[] = [];
let removeBackground = async () => {};
/** Why alice's container could not be put in the CPU's background, when it could not. */
let noBackground: string | undefined;
/** Bob's p99, idle and under attack, from the first test; the second holds them to the target. */
let p99: { idle: number; attacked: number } | undefined;

before(async () => {
  await requireImage();
  const rendered = await renderServerlessYaml(ROOT, { CONTEXT_SECRET, MCP_AUTH_TOKEN: FAIR_AUTH_TOKEN, SANDBOX_API_TOKEN });
  const sandboxFunction = rendered.resources.sandbox!.props;
  const port = sandboxFunction.customContainerConfig.port as number;
  // The jail as the runtime allows: off under podman's masked /proc.
  const environment = (instance: string) => fcSandboxEnvironment(sandboxFunction, ACCOUNT_ID, instance);
  const manager = await cgroupManager();
  const background =
    manager === 'cgroupfs'
      ? await backgroundCgroup(`fc-fair-idle-${process.pid}`)
      : { unavailable: `the engine's cgroup manager is ${manager}, which takes a slice as a parent, not a group of ours` };
  if ('unavailable' in background) noBackground = background.unavailable;
  else removeBackground = background.remove;
  const started = await Promise.allSettled([
    startContainer(environment('c-fair-bob'), port, []),
    startContainer(environment('c-fair-alice'), port, ['--cpu-shares', '2', ...('runArgs' in background ? background.runArgs : [])]),
  ]);
  // One that started is stopped in after() even when the other failed.
  for (const result of started) if (result.status === 'fulfilled') containers.push(result.value);
  for (const result of started) if (result.status === 'rejected') throw result.reason;
  const [bobs, alices] = containers;
  // FC's gateway runs on FC's machines: here in a process of its own, so that what it carries
  // for alice (her floods, her 4 MB bodies) does not share an event loop with bob's client.
  // Every session reaches bob's instance until his context is made; then his sessions, which
  // begin with his tenant's tag, go on to it and every other goes to alice's.
  const gateway = await startFcTriggerProcess({
    credentials: ROLE,
    sessionHeader: (sandboxFunction.sessionAffinityConfig as { affinityHeaderFieldName: string }).affinityHeaderFieldName,
    routes: { byPrefix: [], otherwise: bobs!.url },
  });
  // The deployment closes the gateway; until it has it, a failure here must.
  const fc = await startFcDeployment({
    contextSecret: CONTEXT_SECRET,
    authToken: FAIR_AUTH_TOKEN,
    role: ROLE,
    accountId: ACCOUNT_ID,
    instanceId: 'c-fair-mcp',
    sandboxApiToken: SANDBOX_API_TOKEN,
    environment: { MCP_FETCH_ALLOW_HOSTS: '127.0.0.1' },
    sandbox: { url: bobs!.url, close: async () => {} },
    gateway,
  }).catch(async (error: unknown) => {
    await gateway.close();
    throw error;
  });
  stack = await fairStackOn({ url: `http://127.0.0.1:${fc.port}/mcp`, stderr: fc.output }, () => fc.close());
  const [bobSession, ...others] = [...fc.api.sessions.keys()];
  assert.ok(bobSession && others.length === 0, `bob's context made one session: ${[...fc.api.sessions.keys()].join(', ')}`);
  await gateway.route({ byPrefix: [[bobSession.slice(0, bobSession.lastIndexOf('-') + 1), bobs!.url]], otherwise: alices!.url });
});

after(async () => {
  await stack?.close();
  await Promise.all(containers.map((container) => container.stop()));
  await removeBackground();
});

test(`in the image as deployed, bob's trivial run_code under every attack of alice's at once: no error (${RUNS} runs each; her instance in the CPU's background, standing in for FC's own)`, {
  timeout: 400_000,
}, async (t) => {
  t.diagnostic(`alice's container: ${noBackground ? `at the least CPU weight only (${noBackground})` : 'in an idle cgroup of its own'}`);
  const { attacked, p99: measured } = await measureFairness(stack, {
    runs: RUNS,
    attackedMs: 180_000,
    diagnostic: (line) => t.diagnostic(line),
  });
  assert.deepEqual(attacked.errors.slice(0, 3), [], `bob's errors under attack (${attacked.errors.length} of ${attacked.samples.length})`);
  assert.ok(attacked.samples.length >= RUNS / 2, `bob got ${attacked.samples.length} runs done in the time`);
  p99 = measured;
});

// ×1.58 to ×1.80 in five runs with alice's container in the background (2026-12-07). Before,
// at the least CPU weight only, ×2.3 to ×4.7: her instance's CPU loops took 37% of the host
// through podman's parent group (../support/background-cgroup.ts), which FC's separate instances
// never do. What her attacks cost the shared MCP function is what remains.
test('in the image as deployed, under every attack at once, p99 within 3× idle', (t) => {
  // Without the group, alice's instance takes bob's CPU as no FC instance can: nothing to hold the function to.
  if (noBackground)
    return t.skip(`alice's container at the least CPU weight only (${noBackground}): no stand-in for FC's separate instances here`);
  assert.ok(p99, 'the first test measured no p99');
  assert.ok(p99.attacked <= 3 * p99.idle, `p99 under attack ${p99.attacked.toFixed(1)} ms, over 3× idle ${p99.idle.toFixed(1)} ms`);
});

/**
 * The trigger gateway stand-in (fc-trigger-stand-in.ts) in a process of its own, routing each
 * session to an instance as FC does: for a test whose own event loop must not carry what the
 * gateway carries (FC's gateway runs on FC's machines, not beside the function). Its routes
 * change while it runs (`route`); it reports what it let through and refused every 250 ms.
 * Started by startFcTriggerProcess; the child side is this module run with an IPC channel.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { type FcTriggerStandIn, startFcTriggerStandIn } from './fc-trigger-stand-in.ts';
import type { StandInCredentials } from './fc-openapi-stand-in.ts';

/** Sessions beginning with a prefix go to its URL, the rest to `otherwise`. */
export interface SessionRoutes {
  byPrefix: [prefix: string, url: string][];
  otherwise: string;
}

type ToChild = { type: 'route'; routes: SessionRoutes } | { type: 'close' };
type FromChild =
  | { type: 'listening'; url: string }
  | { type: 'routed' }
  | { type: 'counts'; passed: number; refused: FcTriggerStandIn['refused'] };

export interface FcTriggerProcess extends FcTriggerStandIn {
  /** Replaces the routes; resolves once the gateway follows them. */
  route(routes: SessionRoutes): Promise<void>;
}

export async function startFcTriggerProcess(options: {
  credentials: StandInCredentials;
  sessionHeader: string;
  routes: SessionRoutes;
}): Promise<FcTriggerProcess> {
  const child = fork(new URL(import.meta.url), [], {
    execArgv: ['--import', 'tsx'],
    env: {
      ...process.env,
      FC_TRIGGER_PROCESS: JSON.stringify({
        credentials: options.credentials,
        sessionHeader: options.sessionHeader,
        routes: options.routes,
      }),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = once(child, 'exit');
  const next = async (type: FromChild['type']) => {
    for (;;) {
      const [message] = (await Promise.race([once(child, 'message'), exited.then(() => [undefined])])) as [FromChild | undefined];
      if (!message) throw new Error('the gateway process exited');
      if (message.type === type) return message;
    }
  };
  const listening = (await next('listening')) as Extract<FromChild, { type: 'listening' }>;
  const gateway: FcTriggerProcess = {
    url: listening.url,
    refused: [],
    passed: 0,
    async route(routes) {
      const routed = next('routed');
      child.send({ type: 'route', routes } satisfies ToChild);
      await routed;
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.send({ type: 'close' } satisfies ToChild);
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    },
  };
  child.on('message', (message: FromChild) => {
    if (message.type !== 'counts') return;
    gateway.passed = message.passed;
    gateway.refused = message.refused;
  });
  return gateway;
}

async function runChild(config: { credentials: StandInCredentials; sessionHeader: string; routes: SessionRoutes }): Promise<void> {
  let routes = config.routes;
  const gateway = await startFcTriggerStandIn({
    credentials: config.credentials,
    upstream: {
      sessionHeader: config.sessionHeader,
      instanceOf: (session) => routes.byPrefix.find(([prefix]) => session?.startsWith(prefix))?.[1] ?? routes.otherwise,
    },
  });
  const report = () => process.send?.({ type: 'counts', passed: gateway.passed, refused: gateway.refused } satisfies FromChild);
  const reporter = setInterval(report, 250);
  process.on('message', async (message: ToChild) => {
    if (message.type === 'route') {
      routes = message.routes;
      process.send?.({ type: 'routed' } satisfies FromChild);
    } else {
      clearInterval(reporter);
      report();
      await gateway.close();
      process.disconnect?.();
      process.exit(0);
    }
  });
  process.once('disconnect', () => process.exit(0));
  process.send?.({ type: 'listening', url: gateway.url } satisfies FromChild);
}

if (process.env.FC_TRIGGER_PROCESS && process.send) await runChild(JSON.parse(process.env.FC_TRIGGER_PROCESS));

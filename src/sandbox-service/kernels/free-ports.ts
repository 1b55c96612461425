/** Free TCP ports on the host's loopback, for a kernel that shares the host's network. */
import { createServer, type Server } from 'node:net';

/**
 * `count` ports the system handed out just now (all held at once, so they differ). Free
 * when this returns, not reserved: the kernel binds them right after.
 */
export async function freeLoopbackPorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    return typeof address === 'object' && address ? address.port : 0;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/**
 * `capConnections(server, max)`: at most `max` open connections, and past it the oldest idle
 * one gives way to the newcomer. Node's own `maxConnections` refuses the newcomer instead, so
 * a client that opens `max` connections and sends nothing keeps every other client out (on one
 * address, loopback, no one can tell the clients apart before a request names its caller). A
 * connection is idle from its accept, or from its last answer, until a request arrives on it;
 * the idle ones wait to be evicted oldest first. Only when every connection has a request in
 * progress is the newcomer closed. Idle connections also end on their own (Node's headers
 * timeout before a first request, keep-alive timeout after one).
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

export function capConnections(server: Pick<Server, 'on'>, max: number): void {
  let open = 0;
  // Insertion order is age: a connection goes back to the end each time it becomes idle.
  const idle = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    open++;
    idle.add(socket);
    socket.once('close', () => {
      open--;
      idle.delete(socket);
    });
    if (open <= max) return;
    const oldest = idle.values().next().value as Socket;
    idle.delete(oldest);
    oldest.destroy();
  });
  server.on('request', (request: { socket: Socket }, response: { once(event: 'finish', listener: () => void): unknown }) => {
    const socket = request.socket;
    idle.delete(socket);
    response.once('finish', () => {
      if (!socket.destroyed) idle.add(socket);
    });
  });
}

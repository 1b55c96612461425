/**
 * `capConnections(server, max)`: at most `max` open connections, and past it an idle one gives
 * way to the newcomer. Node's own `maxConnections` refuses the newcomer instead, so a client
 * that opens `max` connections and sends nothing keeps every other client out (on one address,
 * loopback, no one can tell the clients apart before a request names its caller). Which one
 * goes: the oldest that has not sent a request yet (the connections of such a flood), else the
 * oldest kept alive between requests, else, when every connection has a request in progress,
 * the newcomer. Idle connections also end on their own (Node's headers timeout before a first
 * request, its keep-alive timeout after one).
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

export function capConnections(server: Pick<Server, 'on'>, max: number): void {
  let open = 0;
  // Insertion order is age. `fresh`: no request yet; `kept`: idle between requests (back to
  // the end each time a request is answered).
  const fresh = new Set<Socket>();
  const kept = new Set<Socket>();
  const oldest = (set: Set<Socket>, except?: Socket) => {
    for (const socket of set) if (socket !== except) return socket;
    return undefined;
  };
  server.on('connection', (socket: Socket) => {
    open++;
    fresh.add(socket);
    socket.once('close', () => {
      open--;
      fresh.delete(socket);
      kept.delete(socket);
    });
    if (open <= max) return;
    (oldest(fresh, socket) ?? oldest(kept) ?? socket).destroy();
  });
  server.on('request', (request: { socket: Socket }, response: { once(event: 'finish', listener: () => void): unknown }) => {
    const socket = request.socket;
    fresh.delete(socket);
    kept.delete(socket);
    response.once('finish', () => {
      if (!socket.destroyed) kept.add(socket);
    });
  });
}

// The two ends of `network = "proxy"`: a sandbox with its own network namespace reaches nothing but its
// own loopback, so kz's init listens there (on the proxy's port, and on each `allow_tcp` address) and
// carries every connection over a unix socket in the run's private folder to kz outside, which connects
// it to the proxy or to the allowed destination. Bytes are relayed explicitly with flow control (blind/
// conn.ts), never with pipe().

import type { Socket } from "bun";
import { Conn, connHandlers, relay } from "../../blind/conn.ts";

export interface Listening {
  stop(): void;
}

function connect(target: { unix: string } | { hostname: string; port: number }): Promise<Conn> {
  const conn = new Conn();
  return Bun.connect<Conn>({ ...target, allowHalfOpen: true, data: conn, socket: { ...connHandlers, open: (s: Socket<Conn>) => conn.attach(s) } } as never).then(
    () => conn,
  );
}

function accepted(socket: Socket<Conn>): Conn {
  const conn = new Conn();
  socket.data = conn;
  conn.attach(socket);
  return conn;
}

/** Bridges each accepted connection to a fresh one from `dial`; a failed dial closes the client. */
function bridge(client: Conn, dial: () => Promise<Conn>, onOpen?: () => void): void {
  dial().then(
    (upstream) => {
      onOpen?.();
      void relay(client, upstream);
    },
    () => client.destroy(),
  );
}

/** Inside the sandbox: a loopback TCP listener whose connections go to kz through a unix socket. */
export function listenTcpToUnix(hostname: string, port: number, socketPath: string): Listening {
  const listener = Bun.listen<Conn>({
    hostname,
    port,
    allowHalfOpen: true,
    socket: { ...connHandlers, open: (socket) => bridge(accepted(socket), () => connect({ unix: socketPath })) },
  });
  return { stop: () => listener.stop(true) };
}

/** Outside: a unix socket whose connections kz carries to a TCP destination (`onOpen` per connection). */
export function listenUnixToTcp(socketPath: string, hostname: string, port: number, onOpen?: () => void): Listening {
  const listener = Bun.listen<Conn>({
    unix: socketPath,
    allowHalfOpen: true,
    socket: { ...connHandlers, open: (socket: Socket<Conn>) => bridge(accepted(socket), () => connect({ hostname, port }), onOpen) },
  } as never);
  return { stop: () => listener.stop(true) };
}

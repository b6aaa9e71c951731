import type { Server } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { z } from 'zod';

/**
 * Bounds on connection setup work in flight (S12; issue 12, finding 12). In a reconnect storm every
 * agent dials at once; a handshake the controller starts but cannot finish before the peer's
 * 10 s timeout is CPU thrown away, and the losers retry into the same queue. Above a bound a new
 * connection is refused at once, before any TLS work, and its agent backs off (agent/connection.ts).
 * A fleet that is not in a storm stays far below: a steady fleet reconnects a few agents at a time.
 */
export const ConnectionAdmission = z.strictObject({
  /** TCP connections accepted whose TLS handshake has not finished */
  maxTlsHandshakesInFlight: z.number().int().min(1).max(100_000).default(256),
  /** agent channel upgrades between the HTTP upgrade request and the hello (or the close) */
  maxUpgradesInFlight: z.number().int().min(1).max(100_000).default(256),
  /** the same, from one source address */
  maxUpgradesPerIp: z.number().int().min(1).max(100_000).default(64),
});
export type ConnectionAdmission = z.infer<typeof ConnectionAdmission>;

export const DEFAULT_ADMISSION: ConnectionAdmission = ConnectionAdmission.parse({});

export interface TlsAdmission {
  /** connections accepted whose TLS handshake is still running */
  inFlight(): number;
}

/**
 * Puts a bound on TLS handshakes in flight on `server`: a connection counts from the moment TCP
 * accepted it until its handshake finished ('secureConnection') or it closed. Above the bound a new
 * socket is reset and destroyed before Node wraps it in TLS: no TLSSocket, no OpenSSL state, no
 * handshake to time out, and a reset leaves no TIME_WAIT entry behind on the controller's side.
 *
 * Node's https server wraps each accepted socket in its own 'connection' listener; that listener is
 * taken off the server and called here for admitted sockets only.
 */
export function admitTlsHandshakes(
  server: Server,
  options: { max: number; onRefused: (socket: Socket) => void },
): TlsAdmission {
  const wrapTls = server.listeners('connection');
  if (wrapTls.length !== 1) throw new Error(`expected one TLS connection listener, found ${wrapTls.length}`);
  const startTls = wrapTls[0] as (socket: Socket) => void;
  server.removeListener('connection', startTls);

  let inFlight = 0;
  const handshaking = new WeakSet<Socket>();
  const settle = (raw: Socket): void => {
    if (!handshaking.delete(raw)) return;
    inFlight--;
  };
  server.on('connection', (raw: Socket) => {
    if (inFlight >= options.max) {
      options.onRefused(raw);
      raw.resetAndDestroy();
      return;
    }
    inFlight++;
    handshaking.add(raw);
    raw.once('close', () => settle(raw));
    startTls.call(server, raw);
  });
  server.on('secureConnection', (tls: TLSSocket) => {
    // the server side TLSSocket keeps the socket it wraps as `_parent` (Node's _tls_wrap)
    const raw = (tls as TLSSocket & { _parent?: unknown })._parent;
    if (raw && typeof raw === 'object') settle(raw as Socket);
  });
  return { inFlight: () => inFlight };
}

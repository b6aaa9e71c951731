import type { Server } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { AdaptiveHandshakeBound, type BoundAdjustment, type LoopLag } from './adaptive-handshake-bound.js';

/**
 * Bounds on connection setup work in flight (S12; issue 12, finding 12). In a reconnect storm every
 * agent dials at once; a handshake the controller starts but cannot finish before the peer's
 * 10 s timeout is CPU thrown away, and the losers retry into the same queue. Above a bound a new
 * connection is refused at once, before any TLS work, and its agent backs off (agent/connection.ts).
 * A fleet that is not in a storm stays far below: a steady fleet reconnects a few agents at a time.
 */
export const ConnectionAdmission = z.strictObject({
  /**
   * TCP connections accepted whose TLS handshake has not finished: the bound itself when `bound` is
   * `fixed`, the starting point of the adaptive bound otherwise
   */
  maxTlsHandshakesInFlight: z.number().int().min(1).max(100_000).default(256),
  /** agent channel upgrades between the HTTP upgrade request and the hello (or the close); the same */
  maxUpgradesInFlight: z.number().int().min(1).max(100_000).default(256),
  /** the same, from one source address (always fixed: one address is one machine) */
  maxUpgradesPerIp: z.number().int().min(1).max(100_000).default(64),
  /**
   * `adaptive`: the TLS bound follows the event loop's lag (controller/adaptive-handshake-bound.ts)
   * between `floor` and `ceiling`, and the upgrade bound follows it up; `fixed`: both stay at the
   * numbers above (the behaviour before issue 12's adaptive admission)
   */
  bound: z.enum(['adaptive', 'fixed']).default('adaptive'),
  adaptive: z
    .strictObject({
      floor: z.number().int().min(1).max(100_000).default(32),
      ceiling: z.number().int().min(1).max(100_000).default(4096),
      /**
       * event-loop lag (ms) above which the TLS bound is halved: at half a second a handshake's few
       * turns of the loop stay far inside the 10 s handshake and hello timeouts
       */
      targetLagMs: z.number().int().min(1).max(10_000).default(500),
      intervalMs: z.number().int().min(10).max(60_000).default(250),
      /** added per interval in which the bound was reached while the loop kept up */
      increase: z.number().int().min(1).max(100_000).default(64),
    })
    .refine((a) => a.floor <= a.ceiling, { message: 'floor must not exceed ceiling', path: ['floor'] })
    .prefault({}),
});
export type ConnectionAdmission = z.infer<typeof ConnectionAdmission>;

/** What each stage asks before starting a handshake: may one more start with `inFlight` running? */
export interface InFlightBound {
  admit(inFlight: number): boolean;
  current(): number;
}

/** A bound that never moves: the behaviour with `bound: "fixed"`. */
export const fixedBound = (max: number): InFlightBound => ({
  admit: (inFlight) => inFlight < max,
  current: () => max,
});

/**
 * The bounds of both stages as `admission` says: fixed numbers, or an adaptive TLS bound (the door:
 * refusing there costs no TLS work) with the upgrade bound following it upward, never below its
 * fixed number. Refusing at the upgrade throws a finished handshake away, so that stage must not
 * be the tighter one. `lag` is called once (the caller stops it with the server).
 */
export function inFlightBounds(
  admission: ConnectionAdmission,
  lag: () => LoopLag,
  now: () => number = () => performance.now(),
  onAdjust?: (a: BoundAdjustment) => void,
): { tls: InFlightBound; upgrades: InFlightBound } {
  if (admission.bound === 'fixed')
    return {
      tls: fixedBound(admission.maxTlsHandshakesInFlight),
      upgrades: fixedBound(admission.maxUpgradesInFlight),
    };
  const tls = new AdaptiveHandshakeBound(
    { ...admission.adaptive, initial: admission.maxTlsHandshakesInFlight },
    lag(),
    now,
    onAdjust,
  );
  const upgradeBound = (): number => Math.max(admission.maxUpgradesInFlight, tls.current());
  return {
    tls,
    upgrades: { admit: (inFlight) => inFlight < upgradeBound(), current: upgradeBound },
  };
}

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
  options: { max: number | InFlightBound; onRefused: (socket: Socket) => void },
): TlsAdmission {
  const bound = typeof options.max === 'number' ? fixedBound(options.max) : options.max;
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
    if (!bound.admit(inFlight)) {
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

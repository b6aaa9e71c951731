import { createServer, type Server } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import type { Logger } from 'pino';
import { MAX_FRAME_BYTES, MAX_WS_BUFFERED_CHUNKS, MAX_WS_FRAGMENTS } from '../proto/version.js';
import { Router, type Caller, type Route } from './http-router.js';
import { requestTargetOrUndefined } from './request-target.js';
import type { HostStateReader } from './store/host-state-cache.js';
import type { AgentEndpoint } from './agent-endpoint.js';
import type { ControllerMetrics } from './metrics.js';
import { identityOfPeer } from './pki.js';
import { sameSerial } from './session-standing.js';
import { DEFAULT_AGENT_LIMITS, KeyedRateLimiter, type RateLimit } from './rate-limit.js';
import { LogSampler } from './log-sampler.js';
import {
  DEFAULT_ADMISSION,
  admitTlsHandshakes,
  inFlightBounds,
  type ConnectionAdmission,
} from './admission.js';
import { eventLoopLag, type BoundAdjustment } from './adaptive-handshake-bound.js';

export { sameSerial };

export interface ServerOptions {
  tls: { certPem: string; keyPem: string; caPem: string };
  routes: Route[];
  /** hosts' standing, read per request and per upgrade from memory (store/host-state-cache.ts) */
  hostStates: HostStateReader;
  endpoint: AgentEndpoint;
  metrics: ControllerMetrics;
  log: Logger;
  /** agent channel upgrades per host (issue 12); DEFAULT_AGENT_LIMITS.reconnects when absent */
  reconnectLimit?: RateLimit;
  /** bounds on TLS handshakes and upgrades in flight (controller.json `admission`); defaults when absent */
  admission?: Partial<ConnectionAdmission>;
}

const STATUS_TEXT: Record<number, string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
};

/** The controller's one HTTPS port: JSON routes, and WSS for agents at /v1/agent. */
export function createControllerServer(options: ServerOptions): {
  server: Server;
  router: Router;
  wss: WebSocketServer;
} {
  const { hostStates, log, metrics } = options;
  const admission = { ...DEFAULT_ADMISSION, ...options.admission };
  const router = new Router(options.routes);
  // enrollment and /healthz come without a client certificate; every other route is refused
  // without one by the router's single authorisation check (S5, S14)
  const server = createHardenedHttpsServer(options.tls, {
    requestTimeoutMs: 60_000,
    onHeadersTimeout: (ip) => {
      metrics.refuseConnection('headers_timeout');
      log.debug({ ip }, 'request headers timed out');
    },
  });
  // a reconnect storm is refused at the door, before TLS work, above the bound (S12); the bounds
  // follow the event loop's lag unless controller.json fixes them
  let loopLag: ReturnType<typeof eventLoopLag> | undefined;
  const bounds = inFlightBounds(
    admission,
    () => (loopLag = eventLoopLag()),
    undefined,
    boundLogger(log.child({ component: 'admission' })),
  );
  server.once('close', () => loopLag?.stop());
  admitTlsHandshakes(server, {
    max: bounds.tls,
    onRefused: () => metrics.refuseHandshake('tls'),
  });

  // a client whose certificate TLS did not verify is logged once per connection, not per request
  const refusedSockets = new WeakSet<TLSSocket>();
  const identify = (socket: TLSSocket): Caller => {
    const ip = socket.remoteAddress ?? null;
    if (!socket.authorized) {
      const refusal = tlsRefusal(socket);
      if (refusal.clientCert && !refusedSockets.has(socket)) {
        refusedSockets.add(socket);
        metrics.refuseConnection('tls_unverified');
        log.warn({ ip, ...refusal }, 'tls client certificate refused');
      }
      return { kind: 'anonymous', ip };
    }
    const cert = socket.getPeerCertificate();
    if (!cert.raw) return { kind: 'anonymous', ip };
    const id = identityOfPeer(cert.raw);
    if (!id) return { kind: 'anonymous', ip };
    if (id.kind === 'admin') return { kind: 'admin', name: id.name, ip };
    // the host's standing from memory: no database round trip per request (store/host-state-cache.ts)
    const host = hostStates.getHostState(id.hostId);
    // a certificate for an unknown or revoked host authenticates nobody
    if (!host || host.state !== 'active') return { kind: 'anonymous', ip };
    // after a rotation only the newest certificate counts: an old one (stolen or leaked) is dead
    if (!sameSerial(cert.serialNumber, host.certSerial)) return { kind: 'anonymous', ip };
    return { kind: 'host', hostId: id.hostId, ip };
  };

  server.on('request', (req, res) => {
    void router.dispatch(req, res, identify);
  });

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_FRAME_BYTES,
    perMessageDeflate: false,
    maxFragments: MAX_WS_FRAGMENTS,
    maxBufferedChunks: MAX_WS_BUFFERED_CHUNKS,
    clientTracking: false,
  });

  let upgradesInFlight = 0;
  const upgradesPerIp = new Map<string, number>();
  const reconnectsPerHost = new KeyedRateLimiter(options.reconnectLimit ?? DEFAULT_AGENT_LIMITS.reconnects);
  // refusals a flood causes are logged a few times a minute per source and code, the rest counted
  const refusalLog = new LogSampler({ burst: 5, windowMs: 60_000 });

  // Authentication happens here, before handleUpgrade (S12): nothing unauthenticated becomes a WebSocket.
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const tls = req.socket as TLSSocket;
    const ip = tls.remoteAddress ?? 'unknown';
    const refuse = (status: number, code: string, message: string, extra: object = {}): void => {
      metrics.refuseConnection(code);
      const take = refusalLog.take(`${ip}:${code}`);
      if (take)
        log.warn(
          { ip, code, ...extra, ...(take.suppressed ? { suppressed: take.suppressed } : {}) },
          'agent connection refused',
        );
      const body = JSON.stringify({ error: { code, message, retryable: status >= 500 || status === 429 } });
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    };
    const url = requestTargetOrUndefined(req.url);
    if (url?.pathname !== '/v1/agent')
      return refuse(404, 'not_found', `No WebSocket endpoint at ${url?.pathname ?? JSON.stringify(req.url)}`);
    if (!tls.authorized) {
      return refuse(
        401,
        'not_authenticated',
        'A client certificate issued by this controller is required',
        tlsRefusal(tls),
      );
    }
    const cert = tls.getPeerCertificate();
    const id = cert.raw ? identityOfPeer(cert.raw) : undefined;
    if (id?.kind !== 'host')
      return refuse(403, 'forbidden', 'Only host certificates may open the agent channel');
    const state = hostStates.getHostState(id.hostId);
    const host = state && { id: id.hostId, ...state };
    if (!host) return refuse(403, 'unknown_host', 'This certificate belongs to no enrolled host');
    if (host.state !== 'active') return refuse(403, 'host_revoked', `Host "${host.name}" is revoked`);
    if (!sameSerial(cert.serialNumber, host.certSerial)) {
      return refuse(403, 'forbidden', 'This certificate was replaced by a newer one for this host');
    }
    // a flood of reconnects (each ending in a hello and a store write) stops here, per host
    if (!reconnectsPerHost.take(host.id)) {
      metrics.limitHit('reconnects');
      return refuse(429, 'rate_limited', `Host "${host.name}" reconnects too often; retry with backoff`);
    }
    const perIp = upgradesPerIp.get(ip) ?? 0;
    if (perIp >= admission.maxUpgradesPerIp || !bounds.upgrades.admit(upgradesInFlight)) {
      metrics.refuseHandshake('upgrade');
      return refuse(503, 'enroll_rate_limited', 'Too many connection attempts in flight; retry with backoff');
    }
    upgradesInFlight++;
    upgradesPerIp.set(ip, perIp + 1);
    let finished = false;
    const done = (): void => {
      if (finished) return;
      finished = true;
      upgradesInFlight--;
      const n = (upgradesPerIp.get(ip) ?? 1) - 1;
      if (n <= 0) upgradesPerIp.delete(ip);
      else upgradesPerIp.set(ip, n);
    };
    // a handshake that ws aborts destroys the socket without calling back
    socket.once('close', done);
    wss.handleUpgrade(req, socket, head, (ws) => {
      options.endpoint.onConnection(ws, host, ip, host.certSerial);
      // in flight until the first frame (the hello) was handled, after the endpoint's own listener
      ws.once('message', done);
    });
  });

  server.on('tlsClientError', (err) => {
    metrics.refuseConnection('tls');
    log.debug({ err: err.message }, 'tls handshake failed');
  });

  return { server, router, wss };
}

/**
 * A line a second at most while the adaptive TLS bound refuses (a storm): the bound, the lowest and
 * highest it took since the last line, the worst lag, and how many windows had refused.
 */
function boundLogger(log: Logger): (a: BoundAdjustment) => void {
  let s = { at: 0, min: Infinity, max: 0, lagMs: 0, limited: 0 };
  return (a) => {
    s.min = Math.min(s.min, a.bound);
    s.max = Math.max(s.max, a.bound);
    s.lagMs = Math.max(s.lagMs, a.lagMs);
    if (a.limited) s.limited++;
    const t = Date.now();
    if (t - s.at < 1000 || s.limited === 0) return;
    log.info(
      { bound: a.bound, min: s.min, max: s.max, lagMs: Math.round(s.lagMs), limitedWindows: s.limited },
      'tls handshake bound',
    );
    s = { at: t, min: a.bound, max: a.bound, lagMs: 0, limited: 0 };
  };
}

/**
 * Why TLS did not verify a client: the OpenSSL reason code (`socket.authorizationError`) and whether
 * a certificate was offered at all. Only a code of capitals and digits is logged as it is; anything
 * else becomes "other", so nothing a peer controls reaches the log (S19).
 */
export function tlsRefusal(socket: TLSSocket): { tlsError: string; clientCert: boolean } {
  const raw: unknown = socket.authorizationError;
  // Node sets the OpenSSL code as a string; an Error with a code is accepted too
  const code: unknown = raw instanceof Error ? (raw as { code?: unknown }).code : raw;
  const tlsError =
    code === undefined || code === null
      ? 'none'
      : typeof code === 'string' && /^[A-Z0-9_]{1,64}$/.test(code)
        ? code
        : 'other';
  let clientCert = false;
  try {
    clientCert = Object.keys(socket.getPeerCertificate()).length > 0;
  } catch {
    // a socket torn down mid-request has no peer left to ask about
  }
  return { tlsError, clientCert };
}

/** The documented time a client has to send a request's headers (S12). */
export const HEADERS_TIMEOUT_MS = 10_000;

/**
 * An HTTPS server with the limits of S12: client certificates asked for (checked per route, never
 * required at TLS level), TLS 1.2+, bounded handshake, header and request times and sizes.
 * The admin/agent port and the fleet page's port both use it.
 *
 * Node enforces `headersTimeout` only on a periodic sweep (every 30 s by default), so a client
 * trickling its headers was cut off after 24-29 s; each connection here has its own header timer
 * instead (enforceHeadersTimeout), and the sweep runs every second for `requestTimeout`.
 * The server's users must listen for 'upgrade' (both do): the timer ends when one is emitted.
 */
export function createHardenedHttpsServer(
  tls: { certPem: string; keyPem: string; caPem: string },
  options: { requestTimeoutMs: number; onHeadersTimeout?: (ip: string | null) => void },
): Server {
  const server = createServer({
    cert: tls.certPem,
    key: tls.keyPem,
    ca: [tls.caPem],
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2',
    handshakeTimeout: 10_000,
    maxHeaderSize: 16 * 1024,
    connectionsCheckingInterval: 1_000,
  });
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = options.requestTimeoutMs;
  server.maxHeadersCount = 64;
  server.keepAliveTimeout = 5_000;
  enforceHeadersTimeout(server, HEADERS_TIMEOUT_MS, options.onHeadersTimeout);
  return server;
}

/**
 * A timer per connection for the request headers: armed when the connection is ready for a request
 * (TLS done, or the previous response sent on a keep-alive connection), disarmed when a request's
 * headers are complete ('request' or 'upgrade'). When it fires, the client gets a 408 and the
 * connection is closed, the way Node's own sweep would, but on time.
 */
function enforceHeadersTimeout(
  server: Server,
  timeoutMs: number,
  onTimeout: ((ip: string | null) => void) | undefined,
): void {
  const state = new WeakMap<Duplex, { timer: NodeJS.Timeout | undefined; inFlight: number }>();
  const disarm = (socket: Duplex): void => {
    const s = state.get(socket);
    if (s?.timer) clearTimeout(s.timer);
    if (s) s.timer = undefined;
  };
  const arm = (socket: TLSSocket): void => {
    const s = state.get(socket);
    if (!s || socket.destroyed) return;
    if (s.timer) clearTimeout(s.timer);
    s.timer = setTimeout(() => {
      s.timer = undefined;
      if (socket.destroyed || s.inFlight > 0) return;
      onTimeout?.(socket.remoteAddress ?? null);
      if (socket.writable)
        socket.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      // a client that does not read the 408 is not waited for
      setTimeout(() => socket.destroy(), 1000).unref();
    }, timeoutMs);
    s.timer.unref();
  };
  server.on('secureConnection', (socket: TLSSocket) => {
    state.set(socket, { timer: undefined, inFlight: 0 });
    socket.once('close', () => disarm(socket));
    arm(socket);
  });
  server.on('request', (req: IncomingMessage, res) => {
    const socket = req.socket as TLSSocket;
    const s = state.get(socket);
    if (!s) return;
    s.inFlight++;
    disarm(socket);
    res.once('close', () => {
      // the next request on a keep-alive connection gets the same time for its headers
      if (--s.inFlight === 0) arm(socket);
    });
  });
  server.on('upgrade', (req: IncomingMessage) => {
    // the socket now belongs to a WebSocket: no more HTTP requests on it
    disarm(req.socket);
    state.delete(req.socket);
  });
}

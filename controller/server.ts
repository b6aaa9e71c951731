import { createServer, type Server } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import type { Logger } from 'pino';
import { MAX_FRAME_BYTES, MAX_WS_BUFFERED_CHUNKS, MAX_WS_FRAGMENTS } from '../proto/version.js';
import { Router, type Caller, type Route } from './http-router.js';
import { requestTargetOrUndefined } from './request-target.js';
import type { Store } from './store/store.js';
import type { AgentEndpoint } from './agent-endpoint.js';
import type { ControllerMetrics } from './metrics.js';
import { identityOfPeer } from './pki.js';

export interface ServerOptions {
  tls: { certPem: string; keyPem: string; caPem: string };
  routes: Route[];
  store: Store;
  endpoint: AgentEndpoint;
  metrics: ControllerMetrics;
  log: Logger;
}

/** Handshakes in flight, total and per source address (S12). */
const MAX_UPGRADES_IN_FLIGHT = 256;
const MAX_UPGRADES_PER_IP = 64;

/** The controller's one HTTPS port: JSON routes, and WSS for agents at /v1/agent. */
export function createControllerServer(options: ServerOptions): {
  server: Server;
  router: Router;
  wss: WebSocketServer;
} {
  const { store, log, metrics } = options;
  const router = new Router(options.routes);
  // enrollment and /healthz come without a client certificate; every other route is refused
  // without one by the router's single authorisation check (S5, S14)
  const server = createHardenedHttpsServer(options.tls, { requestTimeoutMs: 60_000 });

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
    const host = store.getHost(id.hostId);
    // a certificate for an unknown or revoked host authenticates nobody
    if (!host || host.state !== 'active') return { kind: 'anonymous', ip };
    // after a rotation only the newest certificate counts: an old one (stolen or leaked) is dead
    if (!sameSerial(cert.serialNumber, host.certSerial)) return { kind: 'anonymous', ip };
    return { kind: 'host', hostId: host.id, ip };
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

  // Authentication happens here, before handleUpgrade (S12): nothing unauthenticated becomes a WebSocket.
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const tls = req.socket as TLSSocket;
    const ip = tls.remoteAddress ?? 'unknown';
    const refuse = (status: number, code: string, message: string, extra: object = {}): void => {
      metrics.refuseConnection(code);
      log.warn({ ip, code, ...extra }, 'agent connection refused');
      const body = JSON.stringify({ error: { code, message, retryable: status >= 500 } });
      socket.end(
        `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : status === 404 ? 'Not Found' : 'Service Unavailable'}\r\n` +
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
    const host = store.getHost(id.hostId);
    if (!host) return refuse(403, 'unknown_host', 'This certificate belongs to no enrolled host');
    if (host.state !== 'active') return refuse(403, 'host_revoked', `Host "${host.name}" is revoked`);
    if (!sameSerial(cert.serialNumber, host.certSerial)) {
      return refuse(403, 'forbidden', 'This certificate was replaced by a newer one for this host');
    }
    const perIp = upgradesPerIp.get(ip) ?? 0;
    if (upgradesInFlight >= MAX_UPGRADES_IN_FLIGHT || perIp >= MAX_UPGRADES_PER_IP) {
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
      done();
      options.endpoint.onConnection(ws, host, ip);
    });
  });

  server.on('tlsClientError', (err) => {
    metrics.refuseConnection('tls');
    log.debug({ err: err.message }, 'tls handshake failed');
  });

  return { server, router, wss };
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

/** Serial numbers as hex, compared without case or leading zeros. */
export function sameSerial(a: string | undefined, b: string): boolean {
  const norm = (x: string): string => x.toLowerCase().replace(/:/g, '').replace(/^0+/, '');
  return a !== undefined && norm(a) === norm(b);
}

/**
 * An HTTPS server with the limits of S12: client certificates asked for (checked per route, never
 * required at TLS level), TLS 1.2+, bounded handshake, header and request times and sizes.
 * The admin/agent port and the fleet page's port both use it.
 */
export function createHardenedHttpsServer(
  tls: { certPem: string; keyPem: string; caPem: string },
  options: { requestTimeoutMs: number },
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
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = options.requestTimeoutMs;
  server.maxHeadersCount = 64;
  server.keepAliveTimeout = 5_000;
  return server;
}

import { createHardenedHttpsServer } from '../server.js';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { Logger } from 'pino';
import type { AsyncStore } from '../store/store.js';
import type { RegistryEvent } from '../registry.js';
import { identityOfPeer } from '../pki.js';
import { splitHostPort } from '../data-dir.js';
import { LIVE_PATH, LIVE_PROTOCOL, LIVE_TOKEN_PREFIX } from './fleet-api.js';
import { FleetSource } from './fleet-source.js';
import { LiveHub } from './live-hub.js';
import { LoginThrottle } from './login-throttle.js';
import { isOriginAllowed, originsFor } from './origin.js';
import {
  DEFAULT_SESSION_LIMITS,
  SESSION_COOKIE,
  SessionStore,
  parseCookies,
  secretsEqual,
  type Session,
  type SessionLimits,
} from './sessions.js';
import { dispatchWeb, sendError, webRoutes, type WebRoute } from './web-routes.js';
import { WebTokens } from './web-tokens.js';
import { requestTargetOrUndefined } from '../request-target.js';

export interface WebServerDeps {
  store: AsyncStore;
  /** the agent registry: who is online, and online/offline events */
  registry: {
    isOnline(hostId: string): boolean;
    isOnlineAnywhere(host: { id: string; lastSeenAt: number | null }): boolean;
    on(listener: (e: RegistryEvent) => void): () => void;
  };
  log: Logger;
  /** the controller's serving certificate and CA (data dir) */
  tls: { certPem: string; keyPem: string; caPem: string };
  /** HOST:PORT of the web listener; port 0 picks one */
  listen: string;
  /** names of the serving certificate: the page's origins are https://<name>:<port> */
  sans: readonly string[];
  heartbeatIntervalMs: number;
  /** overrides the origins derived from `sans` */
  allowedOrigins?: readonly string[];
  /** coalescing period of live updates (default 500 ms) */
  liveIntervalMs?: number;
  sessionLimits?: SessionLimits;
  /** sessions to keep across a restart of the web listener alone; a new store by default */
  sessions?: SessionStore;
}

export interface RunningWebServer {
  port: number;
  url: string;
  origins: readonly string[];
  routes: readonly WebRoute[];
  sessions: SessionStore;
  liveClients(): number;
  close(): Promise<void>;
}

/** Concurrent live sockets, in all and per session. */
const MAX_LIVE_CLIENTS = 256;
const MAX_LIVE_PER_SESSION = 8;

/** S13: the web port is the admin port + 1 unless settings say otherwise; an ephemeral admin port gets an ephemeral one. */
export function defaultWebListen(adminListen: string, adminBoundPort: number): string {
  const { host, port } = splitHostPort(adminListen);
  return `${host}:${port === 0 ? 0 : adminBoundPort + 1}`;
}

/**
 * The fleet page: its own HTTPS listener, separate from the agent and admin port (S13), with
 * session cookies, an Origin allow-list and a per-session token on the live channel.
 */
export async function startWebServer(deps: WebServerDeps): Promise<RunningWebServer> {
  const { store, log: parentLog } = deps;
  const log = parentLog.child({ component: 'web' });
  const tokens = new WebTokens(store.webTokens);
  const sessions = deps.sessions ?? new SessionStore(deps.sessionLimits ?? DEFAULT_SESSION_LIMITS);
  const limits = deps.sessionLimits ?? DEFAULT_SESSION_LIMITS;
  const fleet = new FleetSource({
    store,
    isOnline: (h) => deps.registry.isOnlineAnywhere(h),
    heartbeatIntervalMs: deps.heartbeatIntervalMs,
  });

  const { host, port } = splitHostPort(deps.listen);
  const bindHost = host.replace(/^\[|\]$/g, '');
  // a browser may present the admin client certificate to log in; nobody is required to
  const server = createHardenedHttpsServer(deps.tls, { requestTimeoutMs: 30_000 });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, bindHost, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  const origins = deps.allowedOrigins
    ? [...deps.allowedOrigins]
    : originsFor([...deps.sans, bindHost], boundPort);
  const allowed = new Set(origins.map((o) => new URL(o).origin));

  /** The cookie's session, if it is live and its web token still exists. */
  const sessionOf = async (req: IncomingMessage): Promise<Session | undefined> => {
    const s = sessions.get(parseCookies(req.headers.cookie).get(SESSION_COOKIE));
    if (s?.principal.kind === 'web-token' && !(await tokens.isValid(s.principal.tokenId))) {
      sessions.delete(s.id);
      return undefined;
    }
    return s;
  };
  const stillValid = async (sessionId: string): Promise<boolean> => {
    const s = sessions.get(sessionId);
    if (!s) return false;
    if (s.principal.kind === 'web-token' && !(await tokens.isValid(s.principal.tokenId))) {
      sessions.delete(s.id);
      return false;
    }
    return true;
  };

  const routes = webRoutes({
    store,
    tokens,
    sessions,
    fleet,
    throttle: new LoginThrottle(),
    allowedOrigins: allowed,
    adminCertificateOf(socket) {
      if (!socket.authorized) return undefined;
      const raw = socket.getPeerCertificate().raw as Buffer | undefined;
      const id = raw ? identityOfPeer(raw) : undefined;
      return id?.kind === 'admin' ? id.name : undefined;
    },
    sessionMaxAgeSeconds: Math.floor(limits.absoluteMs / 1000),
    log,
  });

  server.on('request', (req, res) => {
    const url = requestTargetOrUndefined(req.url);
    if (!url)
      return sendError(res, 400, 'invalid_args', `Request target ${JSON.stringify(req.url)} is not a path`);
    sessionOf(req)
      .then((session) => dispatchWeb(routes, { req, res, url, session }))
      .catch((err: unknown) => {
        log.error({ err }, 'fleet page request failed');
        if (!res.headersSent) sendError(res, 500, 'internal', 'internal error');
        else res.end();
      });
  });

  const hub = new LiveHub({
    fleet,
    log,
    subscribe: (listener) => deps.registry.on(listener),
    stillAllowed: (client) => stillValid(client.sessionId),
    ...(deps.liveIntervalMs === undefined ? {} : { intervalMs: deps.liveIntervalMs }),
  });
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: 1024,
    perMessageDeflate: false,
    maxFragments: 4,
    maxBufferedChunks: 16,
    clientTracking: false,
    handleProtocols: (protocols) => (protocols.has(LIVE_PROTOCOL) ? LIVE_PROTOCOL : false),
  });
  const livePerSession = new Map<string, number>();

  // every check happens before handleUpgrade (S12): path, Origin, cookie, then the session's token
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const refuse = (status: 401 | 403 | 404 | 503, reason: string): void => {
      log.warn({ ip: req.socket.remoteAddress, reason, origin: req.headers.origin }, 'live channel refused');
      const text = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 503: 'Service Unavailable' }[
        status
      ];
      const body = JSON.stringify({ error: { code: reason, message: reason, retryable: false } });
      socket.end(
        `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    };
    const url = requestTargetOrUndefined(req.url);
    if (url?.pathname !== LIVE_PATH) return refuse(404, 'not_found');
    if (!isOriginAllowed(req.headers.origin, allowed)) return refuse(403, 'origin_not_allowed');
    void sessionOf(req).then(
      (session) => upgradeLive(req, socket, head, session, refuse),
      () => refuse(503, 'session_check_failed'),
    );
  });

  const upgradeLive = (
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    session: Session | undefined,
    refuse: (status: 401 | 403 | 404 | 503, reason: string) => void,
  ): void => {
    if (!session) return refuse(401, 'not_authenticated');
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    const token = offered.find((p) => p.startsWith(LIVE_TOKEN_PREFIX))?.slice(LIVE_TOKEN_PREFIX.length);
    if (token === undefined || !secretsEqual(token, session.csrfToken)) return refuse(403, 'bad_live_token');
    const mine = livePerSession.get(session.id) ?? 0;
    if (hub.clientCount() >= MAX_LIVE_CLIENTS || mine >= MAX_LIVE_PER_SESSION)
      return refuse(503, 'too_many_live');
    wss.handleUpgrade(req, socket, head, (ws) => {
      livePerSession.set(session.id, mine + 1);
      ws.once('close', () => {
        const n = (livePerSession.get(session.id) ?? 1) - 1;
        if (n <= 0) livePerSession.delete(session.id);
        else livePerSession.set(session.id, n);
      });
      hub.add(ws, { sessionId: session.id });
    });
  };
  server.on('tlsClientError', (err) => log.debug({ err: err.message }, 'fleet page tls handshake failed'));

  const urlHost = bindHost === '0.0.0.0' || bindHost === '::' || bindHost === '' ? '127.0.0.1' : host;
  const url = `https://${urlHost}:${boundPort}`;
  log.info({ url, origins }, 'fleet page listening');
  return {
    port: boundPort,
    url,
    origins,
    routes,
    sessions,
    liveClients: () => hub.clientCount(),
    async close() {
      hub.close();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

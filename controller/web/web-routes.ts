import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { AsyncStore } from '../store/store.js';
import { LIVE_PATH, type SessionInfo } from './fleet-api.js';
import type { FleetSource } from './fleet-source.js';
import { isOriginAllowed } from './origin.js';
import { APP_CSS, INDEX_HTML, loginHtml } from './page-assets.js';
import { APP_JS } from './page-bundle.generated.js';
import {
  clearedSessionCookie,
  describePrincipal,
  secretsEqual,
  sessionCookie,
  type Session,
  type SessionStore,
} from './sessions.js';
import type { LoginThrottle } from './login-throttle.js';
import type { WebTokens } from './web-tokens.js';
import { KctlError } from '../../proto/errors.js';
import { decodePathSegment } from '../request-target.js';

/** Who may call a web route: 'public' only for the login page and what it loads; all else needs a session. */
export type WebAccess = 'public' | 'session';

export interface WebContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
  /** the live session of the cookie, if any (the dispatcher refuses 'session' routes without one) */
  session: Session | undefined;
}

export interface WebRoute {
  method: 'GET' | 'POST';
  path: string;
  access: WebAccess;
  /** a browser without a session is sent to /login instead of getting 401 */
  page?: boolean;
  handle(ctx: WebContext & { session: Session | undefined }): void | Promise<void>;
}

export interface WebRouteDeps {
  store: AsyncStore;
  tokens: WebTokens;
  sessions: SessionStore;
  fleet: FleetSource;
  throttle: LoginThrottle;
  allowedOrigins: ReadonlySet<string>;
  /** the admin certificate's name when the browser presented one this controller issued */
  adminCertificateOf(socket: TLSSocket): string | undefined;
  sessionMaxAgeSeconds: number;
  log: Logger;
}

/** Content-Security-Policy: only our own script, style and live channel; no frames, no inline code. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // not no-referrer: under it Chromium sends `Origin: null` on form posts, and the login's Origin check needs the real one
  'referrer-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'strict-transport-security': 'max-age=31536000',
  'cache-control': 'no-store',
};

export function send(
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));
}

export function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { error: { code, message, retryable: false } });
}

function redirect(res: ServerResponse, location: string, headers: Record<string, string> = {}): void {
  res.writeHead(303, { ...SECURITY_HEADERS, location, 'content-length': 0, ...headers });
  res.end();
}

const MAX_FORM_BYTES = 4096;

async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) return undefined;
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** A form post from another origin is refused; a client that sends no Origin (curl) is not a browser. */
function originOk(req: IncomingMessage, allowed: ReadonlySet<string>): boolean {
  const origin = req.headers.origin;
  return origin === undefined || isOriginAllowed(origin, allowed);
}

/** Every route of the web port, in one list, so a test can walk them all without a session (S14). */
export function webRoutes(deps: WebRouteDeps): WebRoute[] {
  const { sessions, tokens, store, log } = deps;
  const loginFailed = async (ctx: WebContext, ip: string, why: string): Promise<void> => {
    deps.throttle.fail(ip);
    await store.audit({
      actor: 'anonymous',
      action: 'web.login.refused',
      target: null,
      details: { ip, why },
    });
    log.warn({ ip, why }, 'fleet page login refused');
    send(
      ctx.res,
      401,
      'text/html; charset=utf-8',
      loginHtml('Login failed: unknown, expired or revoked credential.'),
    );
  };
  return [
    {
      method: 'GET',
      path: '/login',
      access: 'public',
      handle: (ctx) =>
        ctx.session ? redirect(ctx.res, '/') : send(ctx.res, 200, 'text/html; charset=utf-8', loginHtml()),
    },
    {
      method: 'POST',
      path: '/login',
      access: 'public',
      handle: async (ctx) => {
        const ip = ctx.req.socket.remoteAddress ?? 'unknown';
        if (!originOk(ctx.req, deps.allowedOrigins)) {
          return sendError(ctx.res, 403, 'forbidden', 'Login from another origin is refused');
        }
        if (deps.throttle.blocked(ip)) {
          return sendError(ctx.res, 429, 'enroll_rate_limited', 'Too many failed logins; wait a minute');
        }
        const form = await readForm(ctx.req);
        if (!form) return loginFailed(ctx, ip, 'not a form');
        let session: Session;
        if (form.get('method') === 'certificate') {
          const name = deps.adminCertificateOf(ctx.req.socket as TLSSocket);
          if (name === undefined) return loginFailed(ctx, ip, 'no admin certificate');
          session = sessions.create({ kind: 'admin-cert', name }, false);
        } else {
          const record = await tokens.verify(form.get('token') ?? '');
          if (!record) return loginFailed(ctx, ip, 'bad token');
          session = sessions.create({ kind: 'web-token', tokenId: record.id }, record.readOnly);
        }
        // a new id at every login: a cookie planted before login is worth nothing after it
        if (ctx.session) sessions.delete(ctx.session.id);
        deps.throttle.succeed(ip);
        const actor = describePrincipal(session.principal);
        await store.audit({
          actor,
          action: 'web.login',
          target: null,
          details: { ip, readOnly: session.readOnly },
        });
        log.info({ actor, ip }, 'fleet page login');
        redirect(ctx.res, '/', { 'set-cookie': sessionCookie(session.id, deps.sessionMaxAgeSeconds) });
      },
    },
    {
      method: 'POST',
      path: '/logout',
      access: 'session',
      handle: async (ctx) => {
        const session = ctx.session;
        const form = await readForm(ctx.req);
        if (
          !session ||
          !originOk(ctx.req, deps.allowedOrigins) ||
          !secretsEqual(form?.get('csrf') ?? '', session.csrfToken)
        ) {
          return sendError(ctx.res, 403, 'forbidden', 'Logout needs the session token from the page');
        }
        sessions.delete(session.id);
        redirect(ctx.res, '/login', { 'set-cookie': clearedSessionCookie() });
      },
    },
    {
      method: 'GET',
      path: '/static/app.css',
      access: 'public', // the login page's style; nothing in it is about the fleet
      handle: (ctx) => send(ctx.res, 200, 'text/css; charset=utf-8', APP_CSS),
    },
    {
      method: 'GET',
      path: '/',
      access: 'session',
      page: true,
      handle: (ctx) => send(ctx.res, 200, 'text/html; charset=utf-8', INDEX_HTML),
    },
    {
      method: 'GET',
      path: '/static/app.js',
      access: 'session',
      handle: (ctx) => send(ctx.res, 200, 'text/javascript; charset=utf-8', APP_JS),
    },
    {
      method: 'GET',
      path: '/api/session',
      access: 'session',
      handle: (ctx) => {
        const s = ctx.session as Session;
        const info: SessionInfo = {
          user: describePrincipal(s.principal),
          readOnly: s.readOnly,
          csrfToken: s.csrfToken,
          livePath: LIVE_PATH,
        };
        sendJson(ctx.res, 200, info);
      },
    },
    {
      method: 'GET',
      path: '/api/fleet',
      access: 'session',
      handle: async (ctx) => sendJson(ctx.res, 200, await deps.fleet.snapshot()),
    },
    {
      method: 'GET',
      path: '/api/hosts/:id/preflight',
      access: 'session',
      handle: async (ctx) => {
        const details = await deps.fleet.preflightDetails(ctx.params.id ?? '');
        if (!details) return sendError(ctx.res, 404, 'not_found', 'No preflight result for this host yet');
        sendJson(ctx.res, 200, details);
      },
    },
  ];
}

export function matchWebRoute(
  routes: readonly WebRoute[],
  method: string,
  pathname: string,
): { route: WebRoute; params: Record<string, string> } | undefined {
  const parts = pathname.split('/');
  for (const route of routes) {
    if (route.method !== method) continue;
    const pattern = route.path.split('/');
    if (pattern.length !== parts.length) continue;
    // params stay percent-encoded: dispatchWeb decodes them after the access check
    const params: Record<string, string> = {};
    const ok = pattern.every((p, i) => {
      const v = parts[i] ?? '';
      if (!p.startsWith(':')) return p === v;
      if (v === '') return false;
      params[p.slice(1)] = v;
      return true;
    });
    if (ok) return { route, params };
  }
  return undefined;
}

/** The one guard of the web port (S14): a 'session' route without a live session is refused. */
export async function dispatchWeb(
  routes: readonly WebRoute[],
  ctx: Omit<WebContext, 'params'>,
): Promise<void> {
  const match = matchWebRoute(routes, ctx.req.method ?? 'GET', ctx.url.pathname);
  if (!match) return sendError(ctx.res, 404, 'not_found', `No page at ${ctx.url.pathname}`);
  const { route, params: raw } = match;
  if (route.access === 'session' && !ctx.session) {
    if (route.page) return redirect(ctx.res, '/login');
    return sendError(ctx.res, 401, 'not_authenticated', 'Log in at /login first');
  }
  let params: Record<string, string>;
  try {
    params = Object.fromEntries(Object.entries(raw).map(([name, v]) => [name, decodePathSegment(v, name)]));
  } catch (err) {
    if (!(err instanceof KctlError)) throw err;
    return sendError(ctx.res, 400, err.code, err.message);
  }
  await route.handle({ ...ctx, params });
}

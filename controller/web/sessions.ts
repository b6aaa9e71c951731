import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Who logged in: a web token (by id) or the admin client certificate (by name). */
export type SessionPrincipal = { kind: 'web-token'; tokenId: string } | { kind: 'admin-cert'; name: string };

export interface Session {
  /** the cookie value; never logged */
  id: string;
  principal: SessionPrincipal;
  readOnly: boolean;
  /** per-session token for the live channel and for state-changing requests (S13, ASVS 4.4.2) */
  csrfToken: string;
  createdAt: number;
  lastUsedAt: number;
}

export interface SessionLimits {
  /** a session ends this long after login, used or not */
  absoluteMs: number;
  /** and this long after its last request */
  idleMs: number;
  /** oldest sessions are dropped beyond this many */
  max: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  absoluteMs: 12 * 3600_000,
  idleMs: 3600_000,
  max: 1000,
};

export const SESSION_COOKIE = '__Host-kctl-session';

export function describePrincipal(p: SessionPrincipal): string {
  return p.kind === 'web-token' ? `web-token:${p.tokenId}` : `admin:${p.name}`;
}

/** Equal-time comparison of two secrets of any length (hashed first so lengths do not leak). */
export function secretsEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/**
 * Fleet page sessions, in memory: a controller restart logs everyone out, which is acceptable for
 * a page and keeps session secrets off disk.
 */
export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly limits: SessionLimits = DEFAULT_SESSION_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  create(principal: SessionPrincipal, readOnly: boolean): Session {
    const at = this.now();
    const session: Session = {
      id: randomBytes(32).toString('base64url'),
      principal,
      readOnly,
      csrfToken: randomBytes(32).toString('hex'),
      createdAt: at,
      lastUsedAt: at,
    };
    this.sessions.set(session.id, session);
    while (this.sessions.size > this.limits.max) {
      const oldest = this.sessions.keys().next().value;
      if (oldest === undefined) break;
      this.sessions.delete(oldest);
    }
    return session;
  }

  /** The live session with this id, touched; expired ones are removed and not returned. */
  get(id: string | undefined): Session | undefined {
    if (id === undefined) return undefined;
    const s = this.sessions.get(id);
    if (!s) return undefined;
    if (!this.isLive(s)) {
      this.sessions.delete(id);
      return undefined;
    }
    s.lastUsedAt = this.now();
    return s;
  }

  isLive(s: Session): boolean {
    const at = this.now();
    return (
      this.sessions.get(s.id) === s &&
      at < s.createdAt + this.limits.absoluteMs &&
      at < s.lastUsedAt + this.limits.idleMs
    );
  }

  delete(id: string): void {
    this.sessions.delete(id);
  }

  /** Ends every session a predicate picks (a deleted web token's sessions). */
  deleteWhere(pick: (s: Session) => boolean): number {
    let n = 0;
    for (const [id, s] of this.sessions) {
      if (pick(s)) {
        this.sessions.delete(id);
        n++;
      }
    }
    return n;
  }

  size(): number {
    return this.sessions.size;
  }
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    // the first cookie of a name wins, as browsers send the most specific first
    if (!cookies.has(name)) cookies.set(name, part.slice(eq + 1).trim());
  }
  return cookies;
}

/** `__Host-` prefix: the browser insists on Secure, Path=/ and no Domain, so no subdomain can set it. */
export function sessionCookie(value: string, maxAgeSeconds: number): string {
  return `${SESSION_COOKIE}=${value}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; Secure; SameSite=Strict`;
}

export function clearedSessionCookie(): string {
  return `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict`;
}

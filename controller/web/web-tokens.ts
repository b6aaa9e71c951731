import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import type Database from 'better-sqlite3';

/**
 * Login tokens for the fleet page. kctl's admin credential is a client certificate, which most
 * browsers cannot easily present, so an operator mints a web token (`kctl web token create`) and
 * pastes it into the login form. Only a hash of the secret is stored.
 */
export interface WebTokenRecord {
  id: string;
  readOnly: boolean;
  description: string;
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
}

export interface CreatedWebToken {
  id: string;
  /** shown once: `<id>.<secret>` */
  token: string;
  readOnly: boolean;
  expiresAt: number | null;
}

/** What gives access to the web token table; SqliteStore has it. */
export interface HasDatabase {
  readonly database: Database.Database;
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
/** 8-character id and 32-character secret (~165 bits), unlike a bootstrap token's 6.16 */
const WEB_TOKEN = /^([a-z0-9]{8})\.([a-z0-9]{32})$/;

function randomString(length: number): string {
  // randomInt samples without modulo bias (S1, Rancher 43755: CSPRNG only)
  let s = '';
  for (let i = 0; i < length; i++) s += ALPHABET[randomInt(ALPHABET.length)];
  return s;
}

function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

type Row = Record<string, unknown>;

function recordFromRow(r: Row): WebTokenRecord {
  return {
    id: r.id as string,
    readOnly: r.read_only === 1,
    description: r.description as string,
    createdAt: r.created_at as number,
    expiresAt: (r.expires_at as number | null) ?? null,
    lastUsedAt: (r.last_used_at as number | null) ?? null,
  };
}

export class WebTokens {
  constructor(private readonly db: Database.Database) {}

  create(options: {
    readOnly: boolean;
    description?: string;
    ttlMs?: number;
    now?: number;
  }): CreatedWebToken {
    const now = options.now ?? Date.now();
    const id = randomString(8);
    const secret = randomString(32);
    const expiresAt = options.ttlMs === undefined ? null : now + options.ttlMs;
    this.db
      .prepare(
        `INSERT INTO web_tokens (id, secret_hash, read_only, description, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(
        id,
        hashSecret(secret).toString('hex'),
        options.readOnly ? 1 : 0,
        options.description ?? '',
        now,
        expiresAt,
      );
    return { id, token: `${id}.${secret}`, readOnly: options.readOnly, expiresAt };
  }

  /** The token's record when the secret matches and it has not expired (now >= expiresAt is expired). */
  verify(token: string, now = Date.now()): WebTokenRecord | undefined {
    const m = WEB_TOKEN.exec(token.trim());
    if (!m) return undefined;
    const [, id = '', secret = ''] = m;
    const row = this.db.prepare('SELECT * FROM web_tokens WHERE id = ?').get(id) as Row | undefined;
    if (!row) return undefined;
    const want = Buffer.from(row.secret_hash as string, 'hex');
    const have = hashSecret(secret);
    if (want.length !== have.length || !timingSafeEqual(want, have)) return undefined;
    const record = recordFromRow(row);
    if (record.expiresAt !== null && now >= record.expiresAt) return undefined;
    this.db.prepare('UPDATE web_tokens SET last_used_at = ? WHERE id = ?').run(now, id);
    return { ...record, lastUsedAt: now };
  }

  /** Sessions re-check their token on every request, so deleting a token logs its sessions out. */
  isValid(id: string, now = Date.now()): boolean {
    const row = this.db.prepare('SELECT expires_at FROM web_tokens WHERE id = ?').get(id) as
      { expires_at: number | null } | undefined;
    return row !== undefined && (row.expires_at === null || now < row.expires_at);
  }

  list(): WebTokenRecord[] {
    return (this.db.prepare('SELECT * FROM web_tokens ORDER BY created_at, id').all() as Row[]).map(
      recordFromRow,
    );
  }

  revoke(id: string): boolean {
    return this.db.prepare('DELETE FROM web_tokens WHERE id = ?').run(id).changes > 0;
  }
}

/** Mints a fleet page login token; `readOnly` tokens can look but never act. */
export function createWebToken(
  store: HasDatabase,
  options: { readOnly: boolean; description?: string; ttlMs?: number },
): CreatedWebToken {
  return new WebTokens(store.database).create(options);
}

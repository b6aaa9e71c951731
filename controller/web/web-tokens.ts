import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import type { AsyncStore, WebTokenRecord } from '../store/store.js';

type WebTokenTable = AsyncStore['webTokens'];

export type { WebTokenRecord } from '../store/store.js';

export interface CreatedWebToken {
  id: string;
  /** shown once: `<id>.<secret>` */
  token: string;
  readOnly: boolean;
  expiresAt: number | null;
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

/**
 * Login tokens for the fleet page. kctl's admin credential is a client certificate, which most
 * browsers cannot easily present, so an operator mints a web token (`kctl web token create`) and
 * pastes it into the login form. Only a hash of the secret is stored (store.webTokens).
 */
export class WebTokens {
  constructor(private readonly table: WebTokenTable) {}

  async create(options: {
    readOnly: boolean;
    description?: string;
    ttlMs?: number;
    now?: number;
  }): Promise<CreatedWebToken> {
    const now = options.now ?? Date.now();
    const id = randomString(8);
    const secret = randomString(32);
    const expiresAt = options.ttlMs === undefined ? null : now + options.ttlMs;
    await this.table.insert({
      id,
      secretHash: hashSecret(secret).toString('hex'),
      readOnly: options.readOnly,
      description: options.description ?? '',
      createdAt: now,
      expiresAt,
      lastUsedAt: null,
    });
    return { id, token: `${id}.${secret}`, readOnly: options.readOnly, expiresAt };
  }

  /** The token's record when the secret matches and it has not expired (now >= expiresAt is expired). */
  async verify(token: string, now = Date.now()): Promise<WebTokenRecord | undefined> {
    const m = WEB_TOKEN.exec(token.trim());
    if (!m) return undefined;
    const [, id = '', secret = ''] = m;
    const stored = await this.table.get(id);
    if (!stored) return undefined;
    const want = Buffer.from(stored.secretHash, 'hex');
    const have = hashSecret(secret);
    if (want.length !== have.length || !timingSafeEqual(want, have)) return undefined;
    const record: WebTokenRecord = {
      id: stored.id,
      readOnly: stored.readOnly,
      description: stored.description,
      createdAt: stored.createdAt,
      expiresAt: stored.expiresAt,
      lastUsedAt: stored.lastUsedAt,
    };
    if (record.expiresAt !== null && now >= record.expiresAt) return undefined;
    await this.table.touch(id, now);
    return { ...record, lastUsedAt: now };
  }

  /** Sessions re-check their token on every request, so deleting a token logs its sessions out. */
  async isValid(id: string, now = Date.now()): Promise<boolean> {
    const stored = await this.table.get(id);
    return stored !== undefined && (stored.expiresAt === null || now < stored.expiresAt);
  }

  list(): Promise<WebTokenRecord[]> {
    return this.table.list();
  }

  revoke(id: string): Promise<boolean> {
    return this.table.delete(id);
  }
}

/** Mints a fleet page login token; `readOnly` tokens can look but never act. */
export function createWebToken(
  store: { readonly webTokens: WebTokenTable },
  options: { readOnly: boolean; description?: string; ttlMs?: number },
): Promise<CreatedWebToken> {
  return new WebTokens(store.webTokens).create(options);
}

import { createHash } from 'node:crypto';
import { z } from 'zod';
import { KctlError, describeZodError } from '../../proto/errors.js';

/**
 * The backup file: one JSON document, members base64-encoded, a manifest with each member's SHA-256.
 * JSON rather than tar: no new dependency (S22), nothing to unpack that could be a link or a path
 * (the node-tar lesson, S18), strict zod validation on restore (S9), and `jq` can read it. Members
 * are a fixed set of names, never paths. The cost, ~4/3 of the state's size in memory, is fine for
 * state.db of an embedded controller (a few MB for hundreds of hosts).
 */
export const BACKUP_FORMAT = 'kctl-controller-backup';
export const BACKUP_FORMAT_VERSION = 1;

export const MemberName = z.enum([
  'state.db',
  'ca.crt',
  'ca.key',
  'server.crt',
  'server.key',
  'controller.json',
  'kctl.yaml',
  /** the etcd CA and member keys of etcd.mode managed (controller/etcd/pki-store.ts) */
  'etcd-pki.json',
]);
export type MemberName = z.infer<typeof MemberName>;

/** Optional: kctl.yaml (the admin credential) can be re-issued from the CA; etcd-pki.json exists only with managed etcd. */
export const OPTIONAL_MEMBERS: readonly MemberName[] = ['kctl.yaml', 'etcd-pki.json'];
export const REQUIRED_MEMBERS: readonly MemberName[] = MemberName.options.filter(
  (m) => !OPTIONAL_MEMBERS.includes(m),
);

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');

/**
 * A controller whose state lives in PostgreSQL (controller.json `store`, or `--store`): the backup
 * holds the CA and settings only, and names the database (password redacted) that pg_dump backs up.
 */
export const BackupStore = z.strictObject({
  kind: z.literal('postgres'),
  /** the connection string with its password replaced by *** */
  url: z.string().max(2048),
});
export type BackupStore = z.infer<typeof BackupStore>;

export const BackupManifest = z.strictObject({
  kctlVersion: z.string().max(64),
  /** PRAGMA user_version of state.db: how many migrations it has (0 when the state is in PostgreSQL) */
  schemaVersion: z.number().int().min(0),
  /** present when the database is not in the backup (PostgreSQL) */
  store: BackupStore.optional(),
  createdAt: z.iso.datetime(),
  members: z.partialRecord(MemberName, z.strictObject({ sha256: Sha256, size: z.number().int().min(0) })),
});
export type BackupManifest = z.infer<typeof BackupManifest>;

export const BackupFile = z.strictObject({
  format: z.literal(BACKUP_FORMAT),
  formatVersion: z.literal(BACKUP_FORMAT_VERSION),
  manifest: BackupManifest,
  members: z.partialRecord(MemberName, z.base64()),
});
export type BackupFile = z.infer<typeof BackupFile>;

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function encodeBackup(options: {
  kctlVersion: string;
  schemaVersion: number;
  createdAt: Date;
  members: Partial<Record<MemberName, Uint8Array>>;
  store?: BackupStore;
}): { text: string; manifest: BackupManifest } {
  const manifest: BackupManifest = {
    kctlVersion: options.kctlVersion,
    schemaVersion: options.schemaVersion,
    ...(options.store ? { store: options.store } : {}),
    createdAt: options.createdAt.toISOString(),
    members: {},
  };
  const members: Partial<Record<MemberName, string>> = {};
  for (const name of MemberName.options) {
    const data = options.members[name];
    if (data === undefined) continue;
    manifest.members[name] = { sha256: sha256Hex(data), size: data.byteLength };
    members[name] = Buffer.from(data).toString('base64');
  }
  const file: BackupFile = { format: BACKUP_FORMAT, formatVersion: BACKUP_FORMAT_VERSION, manifest, members };
  return { text: JSON.stringify(file) + '\n', manifest };
}

export interface DecodedBackup {
  manifest: BackupManifest;
  members: Partial<Record<MemberName, Buffer>>;
}

/**
 * Parses and verifies a backup: every member listed in the manifest is present with its size and
 * SHA-256, no member is unlisted, and the required ones are there. Errors name the file and member.
 */
export function decodeBackup(text: string, source: string): DecodedBackup {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new KctlError('invalid_config', `Backup "${source}" is not valid JSON: ${(err as Error).message}`, {
      details: { remedy: 'the file is truncated or not a kctl controller backup' },
    });
  }
  const parsed = BackupFile.safeParse(json);
  if (!parsed.success) {
    throw new KctlError('invalid_config', `Backup "${source}": ${describeZodError(parsed.error)}`);
  }
  const { manifest } = parsed.data;
  const members: Partial<Record<MemberName, Buffer>> = {};
  for (const name of MemberName.options) {
    const listed = manifest.members[name];
    const encoded = parsed.data.members[name];
    if (listed === undefined && encoded === undefined) {
      // the state of a PostgreSQL controller is in its database, not in the backup
      const inDatabase = name === 'state.db' && manifest.store !== undefined;
      if (REQUIRED_MEMBERS.includes(name) && !inDatabase) {
        throw new KctlError('invalid_config', `Backup "${source}" has no member "${name}"`);
      }
      continue;
    }
    if (listed === undefined || encoded === undefined) {
      throw new KctlError(
        'invalid_config',
        `Backup "${source}": member "${name}" is ${listed === undefined ? 'not in the manifest' : 'missing'}`,
      );
    }
    const data = Buffer.from(encoded, 'base64');
    const actual = sha256Hex(data);
    if (data.byteLength !== listed.size || actual !== listed.sha256) {
      throw new KctlError(
        'invalid_config',
        `Backup "${source}": member "${name}" does not match its SHA-256 in the manifest (corrupted or altered)`,
        {
          details: {
            member: name,
            expected: listed.sha256,
            actual,
            remedy: 'use another copy of the backup',
          },
        },
      );
    }
    members[name] = data;
  }
  return { manifest, members };
}

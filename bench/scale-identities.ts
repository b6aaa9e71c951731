/**
 * Pre-made agent identities for the scale benchmark, so that enrollment is not what is measured:
 * a controller data dir (CA, serving certificate) and N hosts registered in its store the way
 * enrollment registers them (a CSR made like the agent makes it, signed by the controller's CA with a
 * registry-chosen host id; host row, facts and audit entry in one transaction). Cached on disk, so
 * reruns only add what is missing.
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAgentKeyAndCsr } from '../agent/identity.js';
import { initDataDir, loadDataDir } from '../controller/data-dir.js';
import { certificateNotAfter, signAgentCsr } from '../controller/pki.js';
import { SqliteStore } from '../controller/store/sqlite-store.js';
import type { HostFacts } from '../proto/facts.js';

export interface BenchIdentity {
  hostId: string;
  name: string;
  certPem: string;
  keyPem: string;
}

export interface IdentityCache {
  dir: string;
  dataDir: string;
  identitiesFile: string;
  count: number;
}

export const DEFAULT_CACHE_DIR = join(tmpdir(), 'kctl-bench-scale');
const DAY_MS = 86_400_000;

export function hostName(i: number): string {
  return `scale-${String(i).padStart(5, '0')}`;
}

/** The facts host i reports: this machine's facts with the per-host fields made unique. */
export function factsFor(i: number, template: HostFacts): HostFacts {
  const hex = i.toString(16).padStart(8, '0');
  return {
    ...template,
    hostname: hostName(i),
    machineId: `${hex}${'0'.repeat(24)}`,
    productUuid: `${hex}-0000-4000-8000-000000000000`,
    macs: [`02:00:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}:${hex.slice(6, 8)}`],
    ips: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`],
  };
}

export function readIdentities(file: string, limit = Infinity): BenchIdentity[] {
  if (!existsSync(file)) return [];
  const out: BenchIdentity[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (out.length >= limit) break;
    if (line.trim() !== '') out.push(JSON.parse(line) as BenchIdentity);
  }
  return out;
}

/** Makes sure the cache holds at least `n` enrolled hosts; returns where it is. */
export async function ensureIdentities(
  n: number,
  template: HostFacts,
  options: { dir?: string; log?: (line: string) => void } = {},
): Promise<IdentityCache> {
  const dir = options.dir ?? DEFAULT_CACHE_DIR;
  const log = options.log ?? (() => undefined);
  const dataDir = join(dir, 'data');
  const identitiesFile = join(dir, 'identities.jsonl');
  let have = readIdentities(identitiesFile);
  const store0 = existsSync(join(dataDir, 'state.db'))
    ? new SqliteStore(join(dataDir, 'state.db'))
    : undefined;
  const rows = store0?.listHosts().length ?? 0;
  store0?.close();
  const last = have[have.length - 1];
  const stale = last !== undefined && certificateNotAfter(last.certPem) < Date.now() + DAY_MS;
  if (rows !== have.length || stale) {
    log(`identity cache at ${dir} is ${stale ? 'expiring' : 'inconsistent'}: starting it again`);
    rmSync(dir, { recursive: true, force: true });
    have = [];
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  await initDataDir({ dir: dataDir, listen: '127.0.0.1:0', sans: [] });
  if (have.length >= n) return { dir, dataDir, identitiesFile, count: have.length };

  const files = await loadDataDir(dataDir);
  const store = new SqliteStore(files.dbFile);
  const started = performance.now();
  const batch = 200;
  try {
    for (let from = have.length; from < n; from += batch) {
      const indexes = Array.from({ length: Math.min(batch, n - from) }, (_, k) => from + k);
      // WebCrypto key generation and signing run on libuv's thread pool: overlap them
      const made = await Promise.all(
        indexes.map(async (i) => {
          const { keyPem, csrPem } = await createAgentKeyAndCsr();
          const hostId = randomUUID();
          const signed = await signAgentCsr(files.ca, csrPem, { hostId, validityDays: 30 });
          return { i, hostId, keyPem, signed };
        }),
      );
      const now = Date.now();
      store.transaction(() => {
        for (const m of made) {
          store.createHost({
            id: m.hostId,
            name: hostName(m.i),
            labels: { bench: 'scale' },
            state: 'active',
            certSerial: m.signed.serial,
            certNotAfter: m.signed.notAfter,
            enrolledAt: now,
          });
          store.recordHostSeen(m.hostId, { at: now, ip: '127.0.0.1', facts: factsFor(m.i, template) });
          store.audit({
            actor: 'bench:scale',
            action: 'host.enroll',
            target: hostName(m.i),
            details: { hostId: m.hostId, serial: m.signed.serial },
          });
        }
      });
      appendFileSync(
        identitiesFile,
        made
          .map((m) =>
            JSON.stringify({
              hostId: m.hostId,
              name: hostName(m.i),
              certPem: m.signed.certPem,
              keyPem: m.keyPem,
            } satisfies BenchIdentity),
          )
          .join('\n') + '\n',
        { mode: 0o600 },
      );
      log(`identities: ${from + made.length}/${n} (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    }
  } finally {
    store.close();
  }
  return { dir, dataDir, identitiesFile, count: n };
}

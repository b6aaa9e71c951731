import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HostPreflight } from '../../proto/admin-api.js';
import type { AsyncStore, HostRecord, Store, StoreTableKey, TokenRecord } from './store.js';

type Either<F> = F extends (...args: infer A) => infer R
  ? (...args: A) => Awaited<R> | Promise<Awaited<R>>
  : never;

/** What the suite calls: a Store or an AsyncStore; every call is awaited. */
export type StoreUnderTest = {
  [K in Exclude<keyof Store, 'transaction' | StoreTableKey>]: Either<Store[K]>;
} & {
  readonly [K in StoreTableKey]: { [M in keyof Store[K]]: Either<Store[K][M]> };
};

/**
 * Runs fn in the store's transaction and throws inside it after fn's writes. The same callback
 * serves a synchronous Store (fn's calls return values, the throw is synchronous) and an
 * AsyncStore (they return promises, the rejection comes after them).
 */
async function abortedTransaction(
  store: Store | AsyncStore,
  write: (s: StoreUnderTest) => unknown,
): Promise<unknown> {
  const boom = new Error('rolled back on purpose');
  const either = store as { transaction(fn: (tx?: StoreUnderTest) => unknown): unknown };
  try {
    await either.transaction((tx?: StoreUnderTest) => {
      const done = write(tx ?? store);
      if (done instanceof Promise)
        return done.then(() => {
          throw boom;
        });
      throw boom;
    });
  } catch (err) {
    return err;
  }
  return undefined;
}

/** b after a, at once when a is a plain value (a synchronous store's transaction cannot await) */
function andThen(a: unknown, b: () => unknown): unknown {
  return a instanceof Promise ? a.then(b) : b();
}

const host = (
  id: string,
  name: string,
  over: Partial<HostRecord> = {},
): Parameters<Store['createHost']>[0] => ({
  id,
  name,
  labels: { zone: 'a' },
  state: 'active',
  certSerial: '01',
  certNotAfter: 5_000,
  enrolledAt: 1_000,
  ...over,
});

const token = (id: string, over: Partial<TokenRecord> = {}): TokenRecord => ({
  id,
  secretHash: `hash-${id}`,
  createdAt: 10,
  expiresAt: 1_000,
  usesTotal: 2,
  usesLeft: 2,
  labels: { role: 'worker' },
  description: 'conformance',
  ...over,
});

const preflight = (hostName: string, over: Partial<HostPreflight> = {}): HostPreflight => ({
  host: hostName,
  spec: {
    role: 'worker',
    kubernetesVersion: 'v1.33.0',
    isFirstControlPlane: false,
    kubeProxyMode: 'iptables',
  },
  ...over,
});

/**
 * The behaviour every Store implementation must have, one suite for all: SQLite in npm test
 * (sqlite-store.conformance.test.ts), PostgreSQL against a throwaway cluster (pg-store.conformance.test.ts).
 * makeStore gives a new, empty store for each test; close() is called after it.
 */
export function describeStoreConformance(
  name: string,
  makeStore: () => Store | AsyncStore | Promise<Store | AsyncStore>,
): void {
  describe(`Store conformance: ${name}`, () => {
    let raw: Store | AsyncStore;
    let store: StoreUnderTest;
    beforeEach(async () => {
      raw = await makeStore();
      store = raw;
    });
    afterEach(async () => {
      await raw.close();
    });

    describe('hosts', () => {
      it('creates a host with no last-seen data, finds it by id and name, and lists hosts by name', async () => {
        await store.createHost(host('h2', 'worker-b'));
        await store.createHost(host('h1', 'worker-a', { labels: {} }));
        expect(await store.getHost('h2')).toEqual({
          ...host('h2', 'worker-b'),
          revokedAt: null,
          lastSeenAt: null,
          lastIp: null,
          agentVersion: null,
          facts: null,
        });
        expect((await store.getHostByName('worker-a'))?.id).toBe('h1');
        expect(await store.getHostState('h2')).toEqual({
          name: 'worker-b',
          state: 'active',
          certSerial: '01',
        });
        expect((await store.listHosts()).map((h) => h.name)).toEqual(['worker-a', 'worker-b']);
        expect(await store.getHost('nope')).toBeUndefined();
        expect(await store.getHostByName('nope')).toBeUndefined();
        expect(await store.getHostState('nope')).toBeUndefined();
      });

      it('refuses a second host with the same name', async () => {
        await store.createHost(host('h1', 'cp-1'));
        await expect(Promise.resolve().then(() => store.createHost(host('h2', 'cp-1')))).rejects.toThrow();
        expect(await store.listHosts()).toHaveLength(1);
      });

      it('records last seen, keeping ip, version and facts when a heartbeat leaves them out', async () => {
        await store.createHost(host('h1', 'cp-1'));
        const facts = { hostname: 'cp-1' } as unknown as NonNullable<HostRecord['facts']>;
        await store.recordHostSeen('h1', { at: 20, ip: '10.0.0.1', agentVersion: '1.2.3', facts });
        await store.recordHostSeen('h1', { at: 30, ip: null });
        expect(await store.getHost('h1')).toMatchObject({
          lastSeenAt: 30,
          lastIp: '10.0.0.1',
          agentVersion: '1.2.3',
          facts,
        });
      });

      it('replaces the certificate, revokes once, and deletes', async () => {
        await store.createHost(host('h1', 'cp-1'));
        await store.setHostCertificate('h1', '02', 9_000);
        expect(await store.getHost('h1')).toMatchObject({ certSerial: '02', certNotAfter: 9_000 });
        expect(await store.revokeHost('h1', 40)).toBe(true);
        expect(await store.revokeHost('h1', 50)).toBe(false);
        expect(await store.getHost('h1')).toMatchObject({ state: 'revoked', revokedAt: 40 });
        expect(await store.deleteHost('h1')).toBe(true);
        expect(await store.deleteHost('h1')).toBe(false);
        expect(await store.listHosts()).toEqual([]);
      });
    });

    describe('bootstrap tokens', () => {
      const yes = (): boolean => true;

      it('lists tokens oldest first and deletes them', async () => {
        await store.createToken(token('bbbbbb', { createdAt: 20 }));
        await store.createToken(token('aaaaaa', { createdAt: 10 }));
        expect((await store.listTokens()).map((t) => t.id)).toEqual(['aaaaaa', 'bbbbbb']);
        expect(await store.listTokens()).toContainEqual(token('aaaaaa', { createdAt: 10 }));
        expect(await store.deleteToken('aaaaaa')).toBe(true);
        expect(await store.deleteToken('aaaaaa')).toBe(false);
      });

      it('takes one use per enrollment until none is left, and gives one back on refund, up to the total', async () => {
        await store.createToken(token('abcdef'));
        expect(await store.checkToken('abcdef', yes, 50)).toMatchObject({ ok: true, token: { usesLeft: 2 } });
        expect(await store.useToken('abcdef', yes, 50)).toMatchObject({ ok: true, token: { usesLeft: 1 } });
        expect(await store.useToken('abcdef', yes, 50)).toMatchObject({ ok: true, token: { usesLeft: 0 } });
        expect(await store.useToken('abcdef', yes, 50)).toEqual({ ok: false, reason: 'exhausted' });
        await store.refundToken('abcdef');
        await store.refundToken('abcdef');
        await store.refundToken('abcdef');
        expect((await store.listTokens())[0]?.usesLeft).toBe(2);
      });

      it('refuses an unknown id, a wrong secret and an expired token (now >= expiresAt), taking nothing', async () => {
        await store.createToken(token('abcdef'));
        expect(await store.useToken('zzzzzz', yes, 50)).toEqual({ ok: false, reason: 'unknown' });
        const seen: string[] = [];
        const wrong = (hash: string): boolean => {
          seen.push(hash);
          return false;
        };
        expect(await store.useToken('abcdef', wrong, 50)).toEqual({ ok: false, reason: 'mismatch' });
        expect(seen).toEqual(['hash-abcdef']);
        expect(await store.useToken('abcdef', yes, 1_000)).toEqual({ ok: false, reason: 'expired' });
        expect(await store.checkToken('abcdef', yes, 1_000)).toEqual({ ok: false, reason: 'expired' });
        expect((await store.listTokens())[0]?.usesLeft).toBe(2);
      });

      it('gives a one-use token to exactly one of several enrollments at once', async () => {
        await store.createToken(token('abcdef', { usesTotal: 1, usesLeft: 1 }));
        const results = await Promise.all(
          Array.from({ length: 6 }, () => Promise.resolve().then(() => store.useToken('abcdef', yes, 50))),
        );
        expect(results.filter((r) => r.ok)).toHaveLength(1);
        expect(results.filter((r) => !r.ok)).toEqual(Array(5).fill({ ok: false, reason: 'exhausted' }));
      });
    });

    describe('enrollments and audit', () => {
      it('keeps what an enrollment issued, and forgets it with the host', async () => {
        await store.createHost(host('h1', 'cp-1'));
        const e = {
          hostId: 'h1',
          tokenId: 'abcdef',
          keySha256: 'ab'.repeat(32),
          certSerial: '01',
          certPem: 'PEM',
          at: 7,
        };
        await store.recordEnrollment(e);
        expect(await store.getEnrollment('h1')).toEqual(e);
        await store.deleteHost('h1');
        expect(await store.getEnrollment('h1')).toBeUndefined();
      });

      it('lists the audit trail newest first, up to the limit', async () => {
        await store.audit({ actor: 'admin:a', action: 'one', target: null, details: null, at: 1 });
        await store.audit({ actor: 'admin:a', action: 'two', target: 'h1', details: { n: 2 }, at: 2 });
        await store.audit({ actor: 'admin:a', action: 'three', target: null, details: null, at: 3 });
        const two = await store.listAudit(2);
        expect(two.map((a) => a.action)).toEqual(['three', 'two']);
        expect(two[1]).toMatchObject({ at: 2, actor: 'admin:a', target: 'h1', details: { n: 2 } });
        expect(two[0]!.id).toBeGreaterThan(two[1]!.id);
      });
    });

    describe('cluster specs', () => {
      it('saves a spec, replaces it on the next apply, lists by name and deletes', async () => {
        await store.saveClusterSpec({ name: 'b', spec: { v: 1 }, cniManifest: undefined, appliedAt: 1 });
        await store.saveClusterSpec({ name: 'a', spec: { v: 1 }, cniManifest: 'kind: X', appliedAt: 2 });
        await store.saveClusterSpec({ name: 'b', spec: { v: 2 }, cniManifest: undefined, appliedAt: 3 });
        expect(await store.listClusterSpecs()).toEqual([
          { name: 'a', spec: { v: 1 }, cniManifest: 'kind: X', appliedAt: 2 },
          { name: 'b', spec: { v: 2 }, cniManifest: undefined, appliedAt: 3 },
        ]);
        await store.deleteClusterSpec('b');
        expect((await store.listClusterSpecs()).map((c) => c.name)).toEqual(['a']);
      });
    });

    describe('apply journal (store.applies)', () => {
      const start = { applyId: 'ap1', taskId: 'init/cp-1', phase: 'init', host: 'cp-1' };

      it('resumes the newest unfinished apply of a cluster, newest first by start then by creation', async () => {
        await store.applies.createApply({ id: 'ap1', cluster: 'lab', planHash: 'h', plan: { n: 1 }, now: 5 });
        await store.applies.createApply({ id: 'ap2', cluster: 'lab', planHash: 'h', plan: { n: 2 }, now: 5 });
        await store.applies.createApply({ id: 'other', cluster: 'prod', planHash: 'h', plan: {}, now: 9 });
        expect((await store.applies.latestUnfinished('lab'))?.id).toBe('ap2');
        expect((await store.applies.listApplies()).map((a) => a.id)).toEqual(['other', 'ap2', 'ap1']);
        expect((await store.applies.listApplies(1)).map((a) => a.id)).toEqual(['other']);
        const error = { code: 'internal' as const, message: 'x', retryable: false };
        await store.applies.finishApply('ap2', 'failed', 8, error);
        expect(await store.applies.getApply('ap2')).toEqual({
          id: 'ap2',
          cluster: 'lab',
          planHash: 'h',
          plan: { n: 2 },
          status: 'failed',
          startedAt: 5,
          finishedAt: 8,
          error,
        });
        expect((await store.applies.latestUnfinished('lab'))?.id).toBe('ap2');
        await store.applies.reopenApply('ap2');
        expect(await store.applies.getApply('ap2')).toMatchObject({
          status: 'running',
          finishedAt: null,
          error: null,
        });
        await store.applies.finishApply('ap2', 'succeeded', 9);
        expect(await store.applies.latestUnfinished('lab')).toBeUndefined();
        expect(await store.applies.latestUnfinished('nothing')).toBeUndefined();
        expect(await store.applies.getApply('nope')).toBeUndefined();
      });

      it('keeps the attempt of a step cut short, and counts a new attempt after a failure', async () => {
        await store.applies.createApply({ id: 'ap1', cluster: 'lab', planHash: 'h', plan: {}, now: 1 });
        expect(await store.applies.stepStarted({ ...start, now: 2 })).toBe(1);
        expect(await store.applies.stepStarted({ ...start, now: 3 })).toBe(1);
        const error = { code: 'internal' as const, message: 'no', retryable: true };
        await store.applies.stepFinished({
          applyId: 'ap1',
          taskId: start.taskId,
          status: 'failed',
          now: 4,
          error,
        });
        expect(await store.applies.steps('ap1')).toEqual([
          { ...start, status: 'failed', attempt: 1, startedAt: 3, finishedAt: 4, output: null, error },
        ]);
        expect(await store.applies.stepStarted({ ...start, now: 5 })).toBe(2);
        await store.applies.stepFinished({
          applyId: 'ap1',
          taskId: start.taskId,
          status: 'done',
          now: 6,
          output: { joined: true },
        });
        expect(await store.applies.steps('ap1')).toEqual([
          {
            ...start,
            status: 'done',
            attempt: 2,
            startedAt: 5,
            finishedAt: 6,
            output: { joined: true },
            error: null,
          },
        ]);
        expect(await store.applies.steps('nope')).toEqual([]);
      });
    });

    describe('fleet page tables', () => {
      beforeEach(async () => {
        await store.createHost(host('h1', 'cp-1'));
      });

      it('keeps the latest preflight per host, replaced by each run and deleted with the host', async () => {
        await store.preflight.record('h1', preflight('cp-1', { durationMs: 12 }), 10);
        const error = { code: 'host_offline' as const, message: 'offline', retryable: true };
        await store.preflight.record('h1', preflight('cp-1', { error }), 20);
        expect(await store.preflight.latest('h1')).toEqual({
          hostId: 'h1',
          at: 20,
          spec: preflight('cp-1').spec,
          results: null,
          error,
          durationMs: null,
        });
        expect(await store.preflight.stamps()).toEqual(new Map([['h1', 20]]));
        await store.deleteHost('h1');
        expect(await store.preflight.latest('h1')).toBeUndefined();
        expect((await store.preflight.stamps()).size).toBe(0);
      });

      it('keeps the newest health summary per host, deleted with the host', async () => {
        const summary = {
          worst: 'warning' as const,
          warnings: 1,
          criticals: 0,
          findings: ['Swap'],
          at: 5,
          error: null,
          drift: ['sysctl: sysctl net.ipv4.ip_forward is 0, want 1'],
          certs: [{ path: '/etc/kubernetes/pki/apiserver.crt', notAfter: 1_800_000_000_000 }],
        };
        await store.health.record('h1', { ...summary, worst: 'critical', criticals: 1 });
        await store.health.record('h1', summary);
        expect(await store.health.all()).toEqual(new Map([['h1', summary]]));
        await store.deleteHost('h1');
        expect((await store.health.all()).size).toBe(0);
      });

      it('keeps web token rows: insert, get with the hash, touch, list oldest first, delete', async () => {
        const row = {
          id: 'bbbbbbbb',
          readOnly: true,
          description: 'ops',
          createdAt: 2,
          expiresAt: null,
          lastUsedAt: null,
        };
        await store.webTokens.insert({ ...row, secretHash: 'ff'.repeat(32) });
        await store.webTokens.insert({
          ...row,
          secretHash: 'ee'.repeat(32),
          id: 'aaaaaaaa',
          readOnly: false,
          createdAt: 1,
          expiresAt: 99,
        });
        expect(await store.webTokens.get('bbbbbbbb')).toEqual({ ...row, secretHash: 'ff'.repeat(32) });
        await store.webTokens.touch('bbbbbbbb', 7);
        expect(
          (await store.webTokens.list()).map((t) => [t.id, t.readOnly, t.expiresAt, t.lastUsedAt]),
        ).toEqual([
          ['aaaaaaaa', false, 99, null],
          ['bbbbbbbb', true, null, 7],
        ]);
        expect(await store.webTokens.delete('bbbbbbbb')).toBe(true);
        expect(await store.webTokens.delete('bbbbbbbb')).toBe(false);
        expect(await store.webTokens.get('bbbbbbbb')).toBeUndefined();
      });

      it('changes the fleet fingerprint on a heartbeat, a preflight, a health run and an apply step', async () => {
        const seen = new Set<string>([await store.fleetFingerprint()]);
        const changed = async (what: string): Promise<void> => {
          const f = await store.fleetFingerprint();
          expect(seen.has(f), `fingerprint unchanged after ${what}`).toBe(false);
          seen.add(f);
        };
        await store.recordHostSeen('h1', { at: 50, ip: null });
        await changed('heartbeat');
        await store.preflight.record('h1', preflight('cp-1'), 60);
        await changed('preflight');
        await store.health.record('h1', {
          worst: 'ok',
          warnings: 0,
          criticals: 0,
          findings: [],
          at: 70,
          error: null,
          drift: [],
          certs: [],
        });
        await changed('health');
        await store.applies.createApply({ id: 'ap1', cluster: 'lab', planHash: 'h', plan: {}, now: 80 });
        await changed('apply');
        await store.applies.stepStarted({ applyId: 'ap1', taskId: 't', phase: 'p', host: 'cp-1', now: 90 });
        await changed('step');
        await store.revokeHost('h1', 100);
        await changed('revocation');
        expect(await store.fleetFingerprint()).toBe(await store.fleetFingerprint());
      });
    });

    describe('transactions', () => {
      it('rolls back every write of a transaction that throws', async () => {
        const err = await abortedTransaction(raw, (s) =>
          andThen(s.createToken(token('abcdef')), () => s.createHost(host('h1', 'cp-1'))),
        );
        expect(err).toBeInstanceOf(Error);
        expect(await store.listTokens()).toEqual([]);
        expect(await store.listHosts()).toEqual([]);
      });
    });
  });
}

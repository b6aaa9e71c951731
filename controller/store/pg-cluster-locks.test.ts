import { spawn } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KctlError } from '../../proto/errors.js';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../../test/support/postgres.js';
import { PgClusterLocks } from './pg-cluster-locks.js';

/** Two replicas are two pools on one database; each holds its own lock connection. */
describe('PgClusterLocks: one operation per cluster across replicas (issue 16)', () => {
  let server: ThrowawayPostgres;
  let url: string;
  const pools: pg.Pool[] = [];
  const pool = () => {
    const p = new pg.Pool({ connectionString: url, max: 3 });
    p.on('error', () => undefined); // a terminated idle client must not crash the test
    pools.push(p);
    return p;
  };
  beforeAll(async () => {
    server = await startThrowawayPostgres();
    url = server.url(await server.createDatabase());
  });
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
    await server?.stop();
  });

  const busyOf = async (p: Promise<unknown>): Promise<KctlError> => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!(err instanceof KctlError)) throw new Error(`expected cluster_busy, got ${String(err)}`);
    return err;
  };

  it('refuses a second replica while the first runs, naming what runs and where; frees the cluster after', async () => {
    const a = new PgClusterLocks(pool(), 'a');
    const b = new PgClusterLocks(pool(), 'b');
    let release!: () => void;
    const running = a.with('lab', 'apply 1f2e', () => new Promise<void>((r) => (release = r)));
    await new Promise((r) => setTimeout(r, 200));
    const refused = await busyOf(b.with('lab', 'apply 9999', () => Promise.resolve('ran')));
    expect(refused.code).toBe('cluster_busy');
    expect(refused.message).toContain('apply 1f2e on replica a');
    expect(refused.retryable).toBe(true);
    // another cluster is not held
    expect(await b.with('other', 'apply', () => Promise.resolve('ran'))).toBe('ran');
    release();
    await running;
    expect(await b.with('lab', 'apply 9999', () => Promise.resolve('ran'))).toBe('ran');
  });

  it('gives the lock back when the operation throws', async () => {
    const a = new PgClusterLocks(pool(), 'a');
    await expect(a.with('lab', 'apply', () => Promise.reject(new Error('task failed')))).rejects.toThrow(
      'task failed',
    );
    expect(await new PgClusterLocks(pool(), 'b').with('lab', 'apply', () => Promise.resolve('ran'))).toBe(
      'ran',
    );
  });

  it("a replica's lost database connection frees the cluster at once and aborts its operation", async () => {
    const a = new PgClusterLocks(pool(), 'a');
    const b = new PgClusterLocks(pool(), 'b');
    let aborted: unknown;
    const running = a
      .with(
        'lab',
        'apply',
        (signal) =>
          new Promise<void>((resolve) => {
            signal.addEventListener('abort', () => {
              aborted = signal.reason;
              resolve();
            });
          }),
      )
      .catch(() => undefined);
    await new Promise((r) => setTimeout(r, 200));
    await busyOf(b.with('lab', 'apply', () => Promise.resolve('ran')));
    // what a dead replica looks like to PostgreSQL: its backend goes away
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'kctl: apply on replica a%'",
    );
    await admin.end();
    await running;
    expect(aborted, 'the operation was told its lock is gone').toBeDefined();
    expect(await b.with('lab', 'apply', () => Promise.resolve('ran'))).toBe('ran');
  });

  it('a replica process killed -9 while it holds the lock frees the cluster', async () => {
    // the holder is its own process, as a replica is, killed without any chance to unlock
    const code = `
      import pg from 'pg';
      import { PgClusterLocks } from ${JSON.stringify(new URL('./pg-cluster-locks.ts', import.meta.url).pathname)};
      const pool = new pg.Pool({ connectionString: process.env.URL });
      await new PgClusterLocks(pool, 'doomed').with('lab', 'apply', async () => {
        process.stdout.write('locked\\n');
        await new Promise(() => undefined);
      });`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      env: { ...process.env, URL: url },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
      child.once('exit', (c) => reject(new Error(`holder exited ${c}`)));
    });
    const b = new PgClusterLocks(pool(), 'b');
    expect((await busyOf(b.with('lab', 'apply', () => Promise.resolve('ran')))).message).toContain(
      'replica doomed',
    );
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // the server notices the closed socket at once on loopback; allow it a moment
    const deadline = Date.now() + 10_000;
    let result: string | undefined;
    while (result === undefined && Date.now() < deadline) {
      result = await b.with('lab', 'apply', () => Promise.resolve('ran')).catch(() => undefined);
      if (result === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    expect(result).toBe('ran');
  });
});

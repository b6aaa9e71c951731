import type pg from 'pg';
import { KctlError } from '../../proto/errors.js';
import type { ClusterLockService } from './cluster-locks.js';

/**
 * One apply (or lifecycle operation) per cluster across every controller replica on one PostgreSQL
 * (issue 16): a session-level advisory lock, keyed by the cluster's name, held on a connection of
 * its own for as long as the operation runs. PostgreSQL releases it when that connection ends, so a
 * replica killed mid-apply frees the cluster at once and another replica can resume the journaled
 * apply; nothing has to expire. The holder names itself in `application_name`, which is how a
 * refused replica can say what is running.
 *
 * If the lock's connection breaks while the operation runs (the database restarted, a network
 * cut), the lock is gone: `signal` aborts so the caller stops at its next task rather than run
 * unguarded beside another replica.
 */
export class PgClusterLocks implements ClusterLockService {
  constructor(
    private readonly pool: pg.Pool,
    /** this replica, for the refusal message another replica shows */
    private readonly replica: string,
  ) {}

  async with<T>(cluster: string, what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const lost = new AbortController();
    const onError = (err: Error) => lost.abort(err);
    client.on('error', onError);
    let locked = false;
    try {
      // the holder's description first: a replica refused in between reads it
      await client.query('SELECT set_config($1, $2, false)', [
        'application_name',
        holderName(this.replica, what),
      ]);
      const r = await client.query<{ ok: boolean }>(
        'SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok',
        [lockKey(cluster)],
      );
      locked = r.rows[0]?.ok === true;
      if (!locked) {
        const holder = await this.holder(client, cluster);
        throw new KctlError(
          'cluster_busy',
          `Cluster "${cluster}" is busy: ${holder ?? 'an operation on another controller replica'} is running; wait for it (kctl status) and try again`,
          { retryable: true, details: { running: holder ?? 'unknown' } },
        );
      }
      return await fn(lost.signal);
    } finally {
      client.off('error', onError);
      let reusable = !lost.signal.aborted;
      if (locked && reusable) {
        try {
          await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [lockKey(cluster)]);
          await client.query("SELECT set_config('application_name', 'kctl', false)");
        } catch {
          reusable = false;
        }
      }
      // a connection that lost its lock, or could not give it back, is not returned to the pool
      client.release(reusable ? undefined : true);
    }
  }

  /** What holds the cluster's lock, from the holder's application_name; undefined if unknown. */
  private async holder(client: pg.PoolClient, cluster: string): Promise<string | undefined> {
    const r = await client.query<{ application_name: string }>(
      `SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted
          AND l.classid = ((hashtextextended($1, 0) >> 32) & 4294967295)::oid
          AND l.objid = (hashtextextended($1, 0) & 4294967295)::oid
          AND l.objsubid = 1`,
      [lockKey(cluster)],
    );
    const name = r.rows[0]?.application_name;
    return name?.startsWith('kctl: ') ? name.slice('kctl: '.length) : undefined;
  }
}

function lockKey(cluster: string): string {
  return `kctl-cluster:${cluster}`;
}

/** application_name holds 63 bytes; the description is cut to fit. */
function holderName(replica: string, what: string): string {
  return `kctl: ${what} on replica ${replica}`.slice(0, 63);
}

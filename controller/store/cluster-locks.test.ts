import { describe, expect, it } from 'vitest';
import { statusFor } from '../http-router.js';
import { LocalClusterLocks } from './cluster-locks.js';

describe('one apply or lifecycle operation per cluster', () => {
  it('refuses a second operation on a busy cluster with cluster_busy (409), naming what runs; other clusters go on', async () => {
    const locks = new LocalClusterLocks();
    let release!: () => void;
    const first = locks.with('prod', 'apply', () => new Promise<string>((r) => (release = () => r('done'))));
    await expect(locks.with('prod', 'reset', () => Promise.resolve('x'))).rejects.toMatchObject({
      code: 'cluster_busy',
      message: expect.stringContaining('Cluster "prod" is busy: apply is running') as unknown,
      retryable: true,
    });
    await expect(locks.with('lab', 'remove-node', () => Promise.resolve('other cluster'))).resolves.toBe(
      'other cluster',
    );
    release();
    await expect(first).resolves.toBe('done');
    // released when the operation ends, failed or not
    await expect(locks.with('prod', 'apply', () => Promise.reject(new Error('boom')))).rejects.toThrow(
      'boom',
    );
    await expect(locks.with('prod', 'apply', () => Promise.resolve(1))).resolves.toBe(1);
    expect(statusFor('cluster_busy')).toBe(409);
  });
});

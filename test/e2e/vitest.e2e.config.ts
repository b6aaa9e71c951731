import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

/**
 * The end-to-end suite: a real controller and five booted lab hosts (root, minutes). One file at
 * a time: one lab per machine. Run by scripts/e2e.sh (and .ci/run when it can), not by `npm test`.
 */
export default defineConfig({
  root: resolve(import.meta.dirname, '../..'),
  test: {
    include: ['test/e2e/**/*.e2e.test.ts'],
    testTimeout: 1_200_000,
    hookTimeout: 1_800_000,
    fileParallelism: false,
    maxWorkers: 1,
  },
});

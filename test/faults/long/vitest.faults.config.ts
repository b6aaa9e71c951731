import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

/**
 * The long fault tests (many trials of a 20-host apply, a 60 s partition): minutes, so not part of
 * `npm test`; scripts/faults.sh runs them (and .ci/run runs that). One file at a time: each starts
 * a lab of real processes.
 */
export default defineConfig({
  root: resolve(import.meta.dirname, '../../..'),
  test: {
    include: ['test/faults/long/**/*.test.ts'],
    testTimeout: 1_800_000,
    hookTimeout: 600_000,
    fileParallelism: false,
    maxWorkers: 1,
  },
});

import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

/** The fleet lab tests boot real hosts: slow (minutes), root only, one file at a time (one lab per machine). */
export default defineConfig({
  root: resolve(import.meta.dirname, '../..'),
  test: {
    include: ['test/lab/**/*.lab.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 900_000,
    fileParallelism: false,
    maxWorkers: 1,
  },
});

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'agent/**/*.test.ts',
      'controller/**/*.test.ts',
      'lab/**/*.test.ts',
      'proto/**/*.test.ts',
      'test/**/*.test.ts',
    ],
    // test/lab boots real hosts (minutes, root): scripts/lab-test.sh runs it; scripts/faults.sh runs test/faults/long
    exclude: ['test/e2e/**', 'test/lab/**', 'test/faults/long/**', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // integration tests start real processes; two cores, so keep parallelism modest
    maxWorkers: 2,
  },
});

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Network tests bind ephemeral ports; two files at a time keeps the 2-core machines responsive.
    maxWorkers: 2,
  },
});

import { defineConfig } from 'vitest/config';

// End-to-end tests written in TypeScript: they start the built daemon (dist/).
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    testTimeout: 600000,
    hookTimeout: 120000,
    pool: 'forks',
    fileParallelism: false,
  },
});

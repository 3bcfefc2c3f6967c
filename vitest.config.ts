import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Integration tests start real servers on loopback; two workers keep the 2-core machine responsive.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    // Node 20 runs the tests here; Lambda runs Node 22. The SDK's end-of-support notice is noise in test output.
    env: { AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE: '1' },
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Integration tests start real servers on loopback; two workers keep the 2-core machine responsive.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});

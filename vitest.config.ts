import { defineConfig } from 'vitest/config';

// Node 20 runs the tests here; Lambda runs Node 22. Set before the test workers fork so they inherit it: the
// SDK's end-of-support notice is noise in test output.
process.env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE = '1';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Integration tests start real servers on loopback and spend much of their time waiting on them (emulated
    // latency, paced calls, child processes): four workers keep both cores busy through those waits (the whole
    // suite, with four, took 555 s on two cores).
    poolOptions: { forks: { maxForks: 4, minForks: 1 } },
  },
});

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/global.ts'],
    pool: 'forks',
    // The suite mostly waits on simulated latency and Retry-After (about 30 % CPU with 2 workers on 2 cores),
    // so more workers than cores shorten it without starving it.
    maxWorkers: 4,
    // Generous: the multi-process files (crash, concurrency, queue, cut-short) take 5-15 s alone but hit 60 s at
    // load 20-35 (CI runs beside other work); a timeout only bounds a hang, it is not a timed assertion.
    testTimeout: 180_000,
    hookTimeout: 180_000,
    // Tests import the function modules outside the Functions host, so @azure/functions says once per module that
    // it skips registration (test mode). Expected here, and it buried the output people read; everything else shows.
    onConsoleLog: (log) =>
      !/"@azure\/functions" package|Failed to detect the Azure Functions runtime/.test(log),
  },
});

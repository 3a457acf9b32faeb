import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/temp-root.ts'],
    // Integration tests start real child processes; nothing here should wait longer than this.
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // each synthesis of the stack takes a second or two
    testTimeout: 60000,
    hookTimeout: 60000,
  },
});

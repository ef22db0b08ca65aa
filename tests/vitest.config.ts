import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Lives in tests/ to keep the top level to what the layout names; runs from the repo root.
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: ['libs/*/src/**/*.test.ts', 'services/*/src/**/*.test.ts', 'tests/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The machine has 2 cores; end-to-end files start several processes each.
    maxWorkers: 2,
  },
});

import { defineConfig } from 'vitest/config';
import base from './vitest.config';

// Benchmarks driven through real browsers (make bench): not part of the test suite.
export default defineConfig({
  ...base,
  test: { ...base.test, include: ['e2e/**/*.bench.ts'], testTimeout: 900_000, hookTimeout: 120_000 },
});

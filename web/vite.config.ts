/// <reference types="vitest" />
import { defineConfig } from 'vite';

// The dev server proxies the API (HTTP and the WebSocket) to a running `parley serve`.
const target = process.env.PARLEY_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    // No inline scripts anywhere: the server's CSP is script-src 'self'.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    target: 'es2020',
    // The emoji data set is one lazy chunk (loaded when the picker first opens).
    chunkSizeWarningLimit: 700,
  },
  server: {
    proxy: {
      '/api': { target, ws: true, changeOrigin: false },
    },
  },
  test: {
    include: ['tests/**/*.test.ts'],
    environment: 'node',
  },
});

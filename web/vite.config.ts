import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Where `npx vite` (the dev server) sends /api and /health.
const apiTarget = process.env.MANGOO_API_TARGET || 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  server: {
    port: Number(process.env.MANGOO_WEB_PORT || 5173),
    proxy: {
      '/api': { target: apiTarget, changeOrigin: false },
      '/health': { target: apiTarget, changeOrigin: false },
    },
  },
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    sourcemap: false,
    // The production CSP (script-src 'self') forbids inline scripts: no
    // inline modulepreload polyfill.
    modulePreload: { polyfill: false },
    // Never inline assets as data: URLs in scripts/styles beyond small images.
    assetsInlineLimit: 0,
    target: 'es2020',
  },
});

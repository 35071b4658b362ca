import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The admin console: built into web/dist and served by the Nest ConsoleModule at /admin.
// No inline scripts or styles (the page runs under a strict CSP), no CDN.
const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/admin/',
  publicDir: 'public',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // The polyfill would be harmless, but nothing here needs it and modern Chromium has preload.
    modulePreload: { polyfill: false },
    // Keep every asset a file: a data: URL would need a looser CSP.
    assetsInlineLimit: 0,
    sourcemap: false,
  },
});

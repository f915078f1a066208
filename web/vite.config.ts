import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Served by Tally at /console (src/app/routes/console.ts); `vite` (dev) proxies the API to a running Tally.
export default defineConfig({
  base: '/console/',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 400 },
  server: { proxy: { '/api': 'http://127.0.0.1:8080', '/v1': 'http://127.0.0.1:8080' } },
});

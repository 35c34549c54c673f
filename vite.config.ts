// Vite: builds the React app in src/web into dist/web (served by the API server at /), and runs the
// dev server with /api, /docs and /webhooks proxied to the API (`npm run dev:web`).
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const api = process.env.LOANPAY_API ?? 'http://127.0.0.1:3000';

export default defineConfig({
  root: 'src/web',
  plugins: [react()],
  build: {
    outDir: process.env.WEB_OUT_DIR ?? '../../dist/web',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 700,
    rollupOptions: {
      output: {
        // Framework and UI kit change rarely: separate chunks stay cached across app releases.
        manualChunks(id) {
          if (!id.includes('/node_modules/')) return undefined;
          if (/\/node_modules\/(react|react-dom|react-router|scheduler|cookie|set-cookie-parser)\//.test(id))
            return 'react';
          if (/\/node_modules\/@mantine\/(core|hooks|notifications|dropzone)\//.test(id)) return 'mantine';
          if (/\/node_modules\/@tanstack\//.test(id)) return 'tanstack';
          return undefined;
        },
      },
    },
  },
  server: {
    port: 5173,
    proxy: { '/api': api, '/docs': api, '/webhooks': api },
  },
});

import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'
import tailwindcss from '@tailwindcss/vite'
import { fileURLToPath, URL } from 'node:url'

// In development (`npm run dev`) the API and the browser replica are proxied to
// a running mosaicfs-server (self-signed TLS, hence secure: false). Set
// MOSAICFS_API to point elsewhere.
const api = process.env.MOSAICFS_API ?? 'https://127.0.0.1:8443'

export default defineConfig({
  plugins: [react(), tailwindcss()],
  resolve: { alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) } },
  server: {
    proxy: {
      '/api': { target: api, secure: false, changeOrigin: true },
      '/health': { target: api, secure: false, changeOrigin: true },
    },
  },
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
})

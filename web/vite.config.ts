import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'
import tailwindcss from '@tailwindcss/vite'
import { fileURLToPath, URL } from 'node:url'

// In development (`npm run dev`) the API and the browser replica are proxied to
// a running mosaicfs-server (self-signed TLS, hence secure: false). Set
// MOSAICFS_API to point elsewhere.
const api = process.env.MOSAICFS_API ?? 'https://127.0.0.1:8443'
// Development only: MOSAICFS_DEV_COUCHDB=http://admin:pw@127.0.0.1:5984/mosaicfs_browser
// points the replica straight at a CouchDB database (bypassing the server's
// read-only proxy), for working on the UI against an older server.
const devCouch = process.env.MOSAICFS_DEV_COUCHDB
function couchProxy(url: string) {
  const u = new URL(url)
  const auth = u.username ? 'Basic ' + Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64') : undefined
  return {
    target: u.origin,
    changeOrigin: true,
    rewrite: (p: string) => p.replace(/^\/api\/browser-db/, u.pathname.replace(/\/$/, '')),
    headers: auth ? { Authorization: auth } : undefined,
  }
}

export default defineConfig({
  plugins: [react(), tailwindcss()],
  resolve: { alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) } },
  server: {
    proxy: {
      ...(devCouch ? { '/api/browser-db': couchProxy(devCouch) } : {}),
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

// The browser replica (replication flow 3, docs/architecture.md): a local
// PouchDB (IndexedDB) that pulls `mosaicfs_browser` read-only through the
// server's proxy at /api/browser-db, live, with retry, checkpointing on the
// local side only (the proxy refuses every write, so the source checkpoint is
// never attempted). It holds the small document types (nodes, virtual
// directories, labels, label rules, status, utilization, notifications); file
// listings come from the API. TanStack Query reads documents from it (see
// docs.ts), and every replicated change invalidates those queries, and the API
// queries computed from the changed documents (labels: stale.ts).
import PouchDB from 'pouchdb-browser'
import type { QueryClient } from '@tanstack/react-query'
import { getToken } from './api'
import { apiKeysMadeStaleBy } from './stale'

export type SyncState = 'stopped' | 'connecting' | 'live' | 'syncing' | 'offline' | 'denied'

export interface SyncStatus {
  state: SyncState
  /** Documents written into the replica since the page loaded. */
  received: number
  /** The last replication error, in words. */
  error: string | null
  /** When the replica last caught up with the server (ms since epoch). */
  caughtUpAt: number | null
}

export const LOCAL_DB_NAME = 'mosaicfs_browser'
export const REMOTE_PATH = '/api/browser-db'

let status: SyncStatus = { state: 'stopped', received: 0, error: null, caughtUpAt: null }
const listeners = new Set<() => void>()

function setStatus(patch: Partial<SyncStatus>): void {
  status = { ...status, ...patch }
  for (const l of listeners) l()
}

/** For `useSyncExternalStore`. */
export function subscribeSync(l: () => void): () => void {
  listeners.add(l)
  return () => listeners.delete(l)
}
export function getSyncStatus(): SyncStatus {
  return status
}

let local: PouchDB.Database | null = null
/** The local replica (created on first use). */
export function localDb(): PouchDB.Database {
  if (!local) local = new PouchDB(LOCAL_DB_NAME, { auto_compaction: true })
  return local
}

type Fetch = (url: string | Request, opts?: RequestInit) => Promise<Response>

function remoteDb(): PouchDB.Database {
  const authFetch: Fetch = (url, opts = {}) => {
    const headers = new Headers(opts.headers)
    const t = getToken()
    if (t) headers.set('Authorization', `Bearer ${t}`)
    return (PouchDB as unknown as { fetch: Fetch }).fetch(url, { ...opts, headers })
  }
  return new PouchDB(`${window.location.origin}${REMOTE_PATH}`, {
    skip_setup: true,
    fetch: authFetch,
  } as PouchDB.Configuration.RemoteDatabaseConfiguration)
}

let replication: PouchDB.Replication.Replication<object> | null = null

/** Starts the live pull; changes invalidate the `['pouch', …]` queries. Idempotent. */
export function startSync(queryClient: QueryClient): void {
  if (replication) return
  setStatus({ state: 'connecting', error: null })
  const rep = PouchDB.replicate(remoteDb(), localDb(), {
    live: true,
    retry: true,
    batch_size: 500,
    checkpoint: 'target',
    heartbeat: 10000,
    // 1 s, 2 s, 4 s … capped at 30 s between attempts while the server is away.
    back_off_function: (delay: number) => (delay === 0 ? 1000 : Math.min(delay * 2, 30000)),
  } as PouchDB.Replication.ReplicateOptions)
  replication = rep
  rep
    .on('change', (info: { docs_written?: number; docs?: { _id: string }[] }) => {
      setStatus({ state: 'syncing', received: status.received + (info.docs_written ?? 0), error: null })
      queryClient.invalidateQueries({ queryKey: ['pouch'] })
      for (const key of apiKeysMadeStaleBy((info.docs ?? []).map((d) => d._id))) queryClient.invalidateQueries({ queryKey: [key] })
    })
    .on('paused', (err: unknown) => {
      if (err) setStatus({ state: 'offline', error: describe(err) })
      else setStatus({ state: 'live', error: null, caughtUpAt: Date.now() })
    })
    .on('active', () => setStatus({ state: 'syncing', error: null }))
    .on('denied', (err: unknown) => setStatus({ state: 'denied', error: describe(err) }))
    .on('error', (err: unknown) => {
      const e = err as { status?: number }
      setStatus({ state: e?.status === 401 ? 'denied' : 'offline', error: describe(err) })
    })
}

/** Stops the live pull (logout). The replica stays for the next login to resume from. */
export function stopSync(): void {
  replication?.cancel()
  replication = null
  setStatus({ state: 'stopped' })
}

function describe(err: unknown): string {
  const e = err as { message?: string; reason?: string; status?: number }
  if (!e) return 'unknown error'
  if (e.status === 0 || e.message === 'Failed to fetch') return 'the server cannot be reached'
  return e.reason ?? e.message ?? String(err)
}

/** Bytes the site stores in the browser (IndexedDB replica included), if the browser says. */
export async function replicaSize(): Promise<{ usage: number | null; docs: number }> {
  const info = await localDb().info()
  let usage: number | null = null
  if (navigator.storage?.estimate) {
    const est = await navigator.storage.estimate()
    usage = est.usage ?? null
  }
  return { usage, docs: info.doc_count }
}

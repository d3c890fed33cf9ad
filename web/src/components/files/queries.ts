// Query definitions shared by the file pages.
import { api } from '@/lib/api'
import type { VfsListing } from './types'

/**
 * `GET /api/vfs?path=`: one virtual directory's entries. A refetch that
 * brings the same entries keeps the previous object (one cheap pass instead
 * of TanStack's deep structural sharing), so a 500,000-entry listing polled
 * every few seconds is not re-sorted or re-rendered when nothing changed.
 */
export function listingQuery(path: string, pathBytes?: string | null) {
  // A path that is not UTF-8 is listed by its exact bytes (`path_bytes`, base64).
  const query = pathBytes ? { path_bytes: pathBytes } : { path }
  return {
    queryKey: ['vfs-listing', path, pathBytes ?? null] as const,
    queryFn: ({ signal }: { signal?: AbortSignal }) => api<VfsListing>('/api/vfs', { query, signal }),
    structuralSharing: (old: unknown, next: unknown) => (sameListing(old as VfsListing | undefined, next as VfsListing) ? old : next),
  }
}

/** True when both listings hold the same entries (names, kinds, ids, sizes, times, nodes). */
export function sameListing(a: VfsListing | undefined, b: VfsListing): boolean {
  if (!a || a.path !== b.path || a.total !== b.total || a.entries.length !== b.entries.length) return false
  const rev = (l: VfsListing) => (l.directory as { _rev?: string } | undefined)?._rev
  if (rev(a) !== rev(b) || a.synthesized !== b.synthesized) return false
  const x = a.entries
  const y = b.entries
  for (let i = 0; i < x.length; i++) {
    const p = x[i]
    const q = y[i]
    if (p.name !== q.name || p.inode !== q.inode || p.size !== q.size || p.mtime !== q.mtime || p.file_id !== q.file_id || p.node_id !== q.node_id || p.kind !== q.kind)
      return false
  }
  return true
}

/** Poll a listing every 5 s; a huge one (its JSON is tens of MB) every 30 s. */
export function listingRefetchInterval(entries: number | undefined): number {
  return (entries ?? 0) > 50_000 ? 30_000 : 5_000
}

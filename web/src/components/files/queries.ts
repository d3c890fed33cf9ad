// Query definitions shared by the file pages.
import { api } from '@/lib/api'
import type { VfsListing } from './types'

/** `GET /api/vfs?path=`: one virtual directory's entries. */
export function listingQuery(path: string) {
  return {
    queryKey: ['vfs-listing', path] as const,
    queryFn: ({ signal }: { signal?: AbortSignal }) => api<VfsListing>('/api/vfs', { query: { path }, signal }),
  }
}

// The vfs endpoints this page calls, and their answers.
import { api, encodeVirtualPath } from '@/lib/api'
import type { MountEntry, VirtualDirectoryDoc } from '@/lib/docs'

export interface VfsEntry {
  name: string
  kind: 'file' | 'directory' | string
  inode: number
  file_id?: string
  size?: number
  mtime?: string
  node_id?: string
  virtual_path?: string
  synthesized?: boolean
}

export interface Listing {
  path: string
  directory: VirtualDirectoryDoc
  synthesized: boolean
  total: number
  entries: VfsEntry[]
}

/** `/api/vfs/directories/{path}`; the root is the encoded `/` (the route needs a segment). */
export function directoryUrl(path: string): string {
  const p = encodeVirtualPath(path)
  return `/api/vfs/directories/${p || '%2F'}`
}

/** `POST …/{path}/preview`; for the root, `…/preview`. */
export function previewUrl(path: string): string {
  const p = encodeVirtualPath(path)
  return p ? `/api/vfs/directories/${p}/preview` : '/api/vfs/directories/preview'
}

export const listingKey = (path: string) => ['vfs', 'listing', path] as const

export function fetchListing(path: string, signal?: AbortSignal) {
  return api<Listing>('/api/vfs', { query: { path }, signal })
}

export function previewDraft(path: string, body: { enforce_steps_on_children: boolean; mounts: MountEntry[] }, signal?: AbortSignal) {
  return api<Listing>(previewUrl(path), { method: 'POST', body, signal })
}

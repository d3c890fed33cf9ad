// The network-mount form's pure parts: drafts, validation before sending,
// and the PATCH body (only changed fields). Tested in mounts.test.ts.
import type { NetworkMount } from '@/lib/docs'

export const MOUNT_TYPES = [
  { value: 'nfs', label: 'NFS' },
  { value: 'cifs', label: 'SMB / CIFS' },
  { value: 'icloud_local', label: 'iCloud (local sync folder)' },
  { value: 'gdrive_local', label: 'Google Drive (local sync folder)' },
] as const

export interface MountDraft {
  remote_node_id: string
  remote_base_export_path: string
  local_mount_path: string
  mount_type: string
  priority: string
}

export const EMPTY_DRAFT: MountDraft = { remote_node_id: '', remote_base_export_path: '', local_mount_path: '', mount_type: 'nfs', priority: '0' }

export function draftOf(m: NetworkMount): MountDraft {
  return {
    remote_node_id: m.remote_node_id,
    remote_base_export_path: m.remote_base_export_path,
    local_mount_path: m.local_mount_path,
    mount_type: m.mount_type,
    priority: String(m.priority ?? 0),
  }
}

export type MountErrors = Partial<Record<keyof MountDraft, string>>

/** Errors the form can tell before asking the server (which checks again). */
export function validateDraft(d: MountDraft): MountErrors {
  const e: MountErrors = {}
  if (!d.remote_node_id) e.remote_node_id = 'Choose the node whose files this mount exposes.'
  if (!d.remote_base_export_path.startsWith('/')) e.remote_base_export_path = 'Must be an absolute path (starting with /).'
  if (!d.local_mount_path.startsWith('/')) e.local_mount_path = 'Must be an absolute path (starting with /).'
  if (!/^-?\d+$/.test(d.priority.trim())) e.priority = 'Must be a whole number.'
  else if (Math.abs(Number(d.priority)) > 2 ** 31 - 1) e.priority = 'Is too large.'
  return e
}

export interface MountBody {
  remote_node_id: string
  remote_base_export_path: string
  local_mount_path: string
  mount_type: string
  priority: number
}

export function bodyOf(d: MountDraft): MountBody {
  return {
    remote_node_id: d.remote_node_id,
    remote_base_export_path: d.remote_base_export_path.trim(),
    local_mount_path: d.local_mount_path.trim(),
    mount_type: d.mount_type,
    priority: Number(d.priority.trim()),
  }
}

/** The fields of `next` that differ from `before` (a PATCH body). */
export function patchOf(before: NetworkMount, next: MountBody): Partial<MountBody> {
  const out: Partial<MountBody> = {}
  for (const k of Object.keys(next) as (keyof MountBody)[]) {
    if (before[k] !== next[k]) (out as Record<string, unknown>)[k] = next[k]
  }
  return out
}

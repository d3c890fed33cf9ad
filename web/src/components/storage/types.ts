// Answers of the storage routes (mosaicfs-server/src/routes/storage.rs).
import type { StorageEntry, UtilizationDoc } from '@/lib/docs'

export interface NodeStorage {
  node_id: string
  friendly_name: string | null
  status: string | null
  storage: StorageEntry[]
  latest_snapshot: UtilizationDoc | null
}

export interface StorageOverview {
  nodes: NodeStorage[]
}

export interface StorageHistory {
  node_id: string
  days: number
  snapshots: UtilizationDoc[]
}

/** Sum of capacity and used bytes over every node's filesystems. */
export function storageTotals(o: StorageOverview): { capacity: number; used: number; filesystems: number } {
  let capacity = 0
  let used = 0
  let filesystems = 0
  for (const n of o.nodes) {
    for (const s of n.storage ?? []) {
      capacity += s.capacity_bytes || 0
      used += s.used_bytes || 0
      filesystems++
    }
  }
  return { capacity, used, filesystems }
}

// Document types read from the browser replica, and the hooks that read them.
// Shapes follow docs/architecture.md ("Document types"); unknown fields are
// kept but not typed.
import { useQuery } from '@tanstack/react-query'
import { localDb } from './pouch'

export interface StorageEntry {
  filesystem_id: string
  mount_point: string
  fs_type: string
  device?: string
  capacity_bytes: number
  used_bytes: number
  watch_paths_on_fs?: string[]
}

export interface NetworkMount {
  mount_id: string
  remote_node_id: string
  remote_base_export_path: string
  local_mount_path: string
  mount_type: string
  priority: number
}

export interface NodeDoc {
  _id: string
  type: 'node'
  node_id: string
  friendly_name: string
  platform: string
  status: 'online' | 'offline' | 'degraded' | string
  last_heartbeat: string
  registered_at?: string
  agent_version?: string
  role?: string
  vfs_capable?: boolean
  capabilities?: string[]
  watch_paths?: string[]
  transfer?: { endpoint: string; protocol: string }
  storage?: StorageEntry[]
  network_mounts?: NetworkMount[]
  disabled?: boolean
}

export interface StatusDoc {
  _id: string
  type: 'agent_status'
  node_id: string
  updated_at: string
  /** `healthy`, `degraded`, `unhealthy` … */
  overall: string
  subsystems: Record<string, { status: string; detail?: string }>
  recent_errors: { time: string; subsystem: string; level: string; message: string }[]
}

export interface UtilizationDoc {
  _id: string
  type: 'utilization_snapshot'
  node_id: string
  captured_at: string
  filesystems: { filesystem_id: string; mount_point: string; used_bytes: number; available_bytes: number }[]
  cloud?: { used_bytes: number; quota_bytes?: number }
}

export interface LabelAssignmentDoc {
  _id: string
  type: 'label_assignment'
  file_id: string
  labels: string[]
  updated_at: string
  updated_by: string
}

export interface LabelRuleDoc {
  _id: string
  type: 'label_rule'
  node_id: string
  path_prefix: string
  labels: string[]
  name: string
  enabled: boolean
  created_at?: string
  updated_at?: string
}

export interface Step {
  op: string
  invert?: boolean
  on_match?: string
  [param: string]: unknown
}

export interface MountEntry {
  mount_id?: string
  source: { node_id: string; export_path: string }
  strategy: 'prefix_replace' | 'flatten'
  source_prefix?: string
  steps: Step[]
  default_result?: 'include' | 'exclude'
  conflict_policy?: 'last_write_wins' | 'suffix_node_id'
}

export interface VirtualDirectoryDoc {
  _id: string
  type: 'virtual_directory'
  inode: number
  virtual_path: string
  name: string
  parent_path?: string
  system?: boolean
  created_at: string
  updated_at?: string
  enforce_steps_on_children: boolean
  mounts: MountEntry[]
}

export interface NotificationDoc {
  _id: string
  type: 'notification'
  source: { node_id?: string; component?: string; [k: string]: unknown }
  severity: 'info' | 'warning' | 'error'
  status: 'active' | 'resolved' | 'acknowledged'
  title: string
  message: string
  condition_key?: string
  first_seen: string
  last_seen: string
  occurrence_count?: number
  actions?: { label: string; api: string }[]
}

/** Id prefixes of the replicated types. */
export const PREFIX = {
  node: 'node::',
  dir: 'dir::',
  status: 'status::',
  utilization: 'utilization::',
  labelFile: 'label_file::',
  labelRule: 'label_rule::',
  notification: 'notification::',
} as const

/** Every replicated document whose id starts with `prefix`, from the local replica. */
export async function docsWithPrefix<T>(prefix: string): Promise<T[]> {
  const r = await localDb().allDocs({ startkey: prefix, endkey: `${prefix}\ufff0`, include_docs: true })
  return r.rows.flatMap((row) => (row.doc ? [row.doc as unknown as T] : []))
}

/** A live query over one document type of the replica (re-read on every replicated change). */
export function useDocs<T>(prefix: string) {
  return useQuery({
    queryKey: ['pouch', prefix],
    queryFn: () => docsWithPrefix<T>(prefix),
    staleTime: Infinity,
  })
}

export const useNodes = () => useDocs<NodeDoc>(PREFIX.node)
export const useDirectories = () => useDocs<VirtualDirectoryDoc>(PREFIX.dir)
export const useStatuses = () => useDocs<StatusDoc>(PREFIX.status)
export const useUtilization = () => useDocs<UtilizationDoc>(PREFIX.utilization)
export const useLabelAssignments = () => useDocs<LabelAssignmentDoc>(PREFIX.labelFile)
export const useLabelRules = () => useDocs<LabelRuleDoc>(PREFIX.labelRule)
export const useNotifications = () => useDocs<NotificationDoc>(PREFIX.notification)

/** The node's display name, falling back to its id. */
export function nodeName(nodes: NodeDoc[] | undefined, nodeId: string | undefined): string {
  if (!nodeId) return '—'
  if (nodeId === '*') return 'every node'
  return nodes?.find((n) => n.node_id === nodeId)?.friendly_name || nodeId
}

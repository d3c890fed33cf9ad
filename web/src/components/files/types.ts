// Shapes of the API answers the file pages read (mosaicfs-server/src/routes/
// files.rs, vfs.rs, labels.rs). Unknown fields are kept but not typed.
import type { VirtualDirectoryDoc } from '@/lib/docs'

/** One entry of `GET /api/vfs` (`Entry` in vfs.rs). */
export interface VfsEntry {
  /** The name as text: lossy UTF-8 (U+FFFD) when the name on disk is not UTF-8. */
  name: string
  /** The exact name in base64, present only when `name` is not exact. */
  name_bytes?: string
  kind: 'file' | 'directory'
  inode: number
  /** Files: `file::…`. */
  file_id?: string
  size?: number
  mtime?: string
  node_id?: string
  /** Directories: the absolute virtual path. */
  virtual_path?: string
  /** Directories: the exact virtual path in base64, only when it is not UTF-8 (list it with `path_bytes`). */
  virtual_path_bytes?: string
  /** Directories made by a `prefix_replace` mount (no document of their own). */
  synthesized?: boolean
}

/** `GET /api/vfs?path=` (`Listing` in vfs.rs). */
export interface VfsListing {
  path: string
  /** The exact listed path in base64, only when it is not UTF-8. */
  path_bytes?: string
  directory: VirtualDirectoryDoc
  synthesized: boolean
  total: number
  entries: VfsEntry[]
}

/** `GET /api/vfs/tree` (`TreeNode` in vfs.rs). */
export interface VfsTreeNode {
  path: string
  name: string
  inode: number
  children: VfsTreeNode[]
}

/** `GET /api/files/{id}`: the stored file document. */
export interface FileDocument {
  _id: string
  type: 'file'
  name: string
  inode: number
  size: number
  mtime: string
  mime_type?: string | null
  status: 'active' | 'deleted' | string
  deleted_at?: string | null
  created_at?: string
  updated_at?: string
  /** `export_path_bytes`: base64 of the exact path, only when it is not UTF-8. */
  source: { node_id: string; export_path: string; export_parent: string; export_path_bytes?: string }
  [k: string]: unknown
}

/** One item of `GET /api/search` (`FileItem` in files.rs). */
export interface FileItem {
  id: string
  node_id: string
  name: string
  /** The exact name in base64, only when `name` is not exact. */
  name_bytes?: string
  export_path: string
  /** The exact path in base64, only when `export_path` is not exact. */
  export_path_bytes?: string
  export_parent: string
  size: number
  mtime: string
  mime_type?: string | null
  status: string
  inode: number
}

/** `GET /api/search` (`FilePage`). */
export interface FilePage {
  items: FileItem[]
  next_cursor?: string | null
}

/** `GET /api/labels/effective?file_id=` (`EffectiveView` in labels.rs). */
export interface EffectiveLabels {
  file_id: string
  labels: string[]
  direct: string[]
  inherited: { label: string; rule_id: string; rule_name: string }[]
}

/** `GET /api/labels` (`LabelList`). */
export interface LabelList {
  items: { label: string; assignments: number; rules: number }[]
}

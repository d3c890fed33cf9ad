// Pure logic of the file pages: sorting and filtering listings, breadcrumbs,
// the node and path prefix a folder's label rule should use, and which inline
// preview a file gets. Tested in logic.test.ts.
import type { MountEntry } from '@/lib/docs'
import type { VfsEntry } from './types'

// ---------------------------------------------------------------------------
// Sorting and filtering

export type SortKey = 'name' | 'size' | 'mtime' | 'node'
export type SortDir = 'asc' | 'desc'
export interface SortState {
  key: SortKey
  dir: SortDir
}

/** Clicking a header: the same column flips direction; a new one starts ascending. */
export function nextSort(s: SortState, key: SortKey): SortState {
  return s.key === key ? { key, dir: s.dir === 'asc' ? 'desc' : 'asc' } : { key, dir: 'asc' }
}

/** `aria-sort` of a column header. */
export function ariaSort(s: SortState, key: SortKey): 'ascending' | 'descending' | 'none' {
  return s.key !== key ? 'none' : s.dir === 'asc' ? 'ascending' : 'descending'
}

/**
 * A name's sort key: lowercased, digit runs zero-padded so `file2` sorts
 * before `file10`. Plain `<` on these keys is a natural, case-insensitive
 * order, and far faster than a collator over 500,000 names.
 */
export function nameKey(name: string): string {
  const l = name.toLowerCase()
  return /\d/.test(l) ? l.replace(/\d+/g, (d) => (d.length >= 16 ? d : d.padStart(16, '0'))) : l
}

/**
 * Directories first, then by `key`; ties broken by name. Decorates each entry
 * with its key once, so a 500,000-entry listing sorts in well under a second.
 * `nodeName` maps a node id to what the user sees (sorting by node sorts by
 * the friendly name). Returns a new array; the input is left alone.
 */
export function sortEntries(
  entries: readonly VfsEntry[],
  s: SortState,
  nodeName: (id: string | undefined) => string = (id) => id ?? '',
): VfsEntry[] {
  const n = entries.length
  const names = new Array<string>(n)
  const nums = new Float64Array(n)
  const strs = s.key === 'node' ? new Array<string>(n) : null
  const nodeCache = new Map<string | undefined, string>()
  for (let i = 0; i < n; i++) {
    const e = entries[i]
    names[i] = nameKey(e.name)
    if (s.key === 'size') nums[i] = e.kind === 'directory' ? -1 : (e.size ?? 0)
    else if (s.key === 'mtime') nums[i] = e.mtime ? Date.parse(e.mtime) || 0 : -Infinity
    else if (strs) {
      let v = nodeCache.get(e.node_id)
      if (v === undefined) {
        v = e.node_id ? nodeName(e.node_id).toLowerCase() : ''
        nodeCache.set(e.node_id, v)
      }
      strs[i] = v
    }
  }
  const sign = s.dir === 'asc' ? 1 : -1
  const byName = (a: number, b: number): number => {
    const x = names[a]
    const y = names[b]
    if (x !== y) return x < y ? -1 : 1
    const p = entries[a].name
    const q = entries[b].name
    return p < q ? -1 : p > q ? 1 : a - b
  }
  const idx = new Array<number>(n)
  for (let i = 0; i < n; i++) idx[i] = i
  idx.sort((a, b) => {
    const da = entries[a].kind === 'directory'
    const db = entries[b].kind === 'directory'
    if (da !== db) return da ? -1 : 1
    let c = 0
    if (s.key === 'size' || s.key === 'mtime') c = nums[a] < nums[b] ? -1 : nums[a] > nums[b] ? 1 : 0
    else if (strs) c = strs[a] < strs[b] ? -1 : strs[a] > strs[b] ? 1 : 0
    if (c !== 0) return c * sign
    return byName(a, b) * (s.key === 'name' ? sign : 1)
  })
  const out = new Array<VfsEntry>(n)
  for (let i = 0; i < n; i++) out[i] = entries[idx[i]]
  return out
}

/** Entries whose name contains `text` (case-insensitive; blank keeps all). */
export function filterEntries<T extends { name: string }>(entries: readonly T[], text: string): T[] {
  const q = text.trim().toLowerCase()
  if (!q) return entries as T[]
  return entries.filter((e) => e.name.toLowerCase().includes(q))
}

// ---------------------------------------------------------------------------
// Paths and URLs

/** The route's splat (`sample/documents`) → the virtual path (`/sample/documents`). */
export function splatToPath(splat: string | undefined): string {
  const segs = (splat ?? '').split('/').filter((s) => s !== '')
  return '/' + segs.join('/')
}

/**
 * The exact bytes of a `…_bytes` field (base64) as readable text: printable
 * ASCII as is, every other byte as `\xNN` (so names that differ only in a
 * byte that is not UTF-8 look different). `null` when the field is absent
 * or not base64.
 */
export function exactBytesText(b64: string | undefined): string | null {
  if (!b64) return null
  let raw: string
  try {
    raw = atob(b64)
  } catch {
    return null
  }
  let out = ''
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i)
    out += c >= 0x20 && c < 0x7f && c !== 0x5c ? raw[i] : `\\x${c.toString(16).padStart(2, '0')}`
  }
  return out
}

/**
 * The browser URL of a directory entry: [`filesUrl`] of its (lossy) path,
 * plus `?bytes=` with the exact path when it is not UTF-8.
 */
export function dirUrl(virtualPath: string, virtualPathBytes?: string): string {
  const url = filesUrl(virtualPath)
  return virtualPathBytes ? `${url}?bytes=${encodeURIComponent(virtualPathBytes)}` : url
}

/** The browser URL of a virtual directory: `/files/sample/my%20docs`. */
export function filesUrl(virtualPath: string): string {
  const segs = virtualPath.split('/').filter((s) => s !== '')
  return '/files' + (segs.length ? '/' + segs.map(encodeURIComponent).join('/') : '')
}

export interface Crumb {
  name: string
  path: string
}

/** `/a/b` → `[{All files, /}, {a, /a}, {b, /a/b}]`. */
export function breadcrumbs(virtualPath: string, rootName = 'All files'): Crumb[] {
  const segs = virtualPath.split('/').filter((s) => s !== '')
  const out: Crumb[] = [{ name: rootName, path: '/' }]
  let p = ''
  for (const s of segs) {
    p += '/' + s
    out.push({ name: s, path: p })
  }
  return out
}

/** The parent of a virtual path (`/` for `/` itself). */
export function parentPath(p: string): string {
  const i = p.replace(/\/+$/, '').lastIndexOf('/')
  return i <= 0 ? '/' : p.slice(0, i)
}

/** The directory part of an absolute path, ending with `/`: `/a/b/c.txt` → `/a/b/`. */
export function dirOf(path: string): string {
  const i = path.lastIndexOf('/')
  return i < 0 ? '/' : path.slice(0, i + 1)
}

/**
 * The longest directory prefix shared by every path, ending with `/`
 * (`['/a/b/', '/a/c/']` → `/a/`). Works on whole segments, so `/data/` and
 * `/database/` share `/` only.
 */
export function commonDirPrefix(dirs: readonly string[]): string {
  if (dirs.length === 0) return '/'
  const split = dirs.map((d) => d.split('/').filter((s) => s !== ''))
  const first = split[0]
  let n = first.length
  for (const segs of split.slice(1)) {
    let i = 0
    while (i < n && i < segs.length && segs[i] === first[i]) i++
    n = i
  }
  return n === 0 ? '/' : '/' + first.slice(0, n).join('/') + '/'
}

// ---------------------------------------------------------------------------
// "Apply labels to folder": the rule's node and path prefix

export interface RuleTarget {
  node_id: string
  path_prefix: string
  /** Said to the user when the answer is a compromise (several nodes). */
  note?: string
}

/**
 * Which `node_id` + `path_prefix` a label rule needs to cover the files of
 * a virtual folder, from the real locations (`source.export_path`) of the
 * files listed in it. One node: that node and the common directory prefix.
 * Several nodes: `*` when their prefixes agree, else the first node's (with
 * a note saying the other nodes are left out). `null` when no file is known.
 */
export function deriveRuleTarget(files: readonly { node_id: string; export_path: string }[]): RuleTarget | null {
  if (files.length === 0) return null
  const byNode = new Map<string, string[]>()
  for (const f of files) {
    const list = byNode.get(f.node_id) ?? []
    list.push(dirOf(f.export_path))
    byNode.set(f.node_id, list)
  }
  const prefixes = [...byNode.entries()].map(([node, dirs]) => ({ node, prefix: commonDirPrefix(dirs) }))
  if (prefixes.length === 1) return { node_id: prefixes[0].node, path_prefix: prefixes[0].prefix }
  if (prefixes.every((p) => p.prefix === prefixes[0].prefix)) return { node_id: '*', path_prefix: prefixes[0].prefix }
  const others = prefixes.slice(1).map((p) => p.node)
  return {
    node_id: prefixes[0].node,
    path_prefix: prefixes[0].prefix,
    note: `This folder holds files of ${prefixes.length} nodes in different places; the rule covers node ${prefixes[0].node} only (not ${others.join(', ')}).`,
  }
}

/**
 * When a folder lists no files, its mounts still say where its files would
 * come from: the real directory behind `virtualPath` on each mount's node
 * (a `prefix_replace` subdirectory maps below the mount's source).
 */
export function targetsFromMounts(
  mounts: readonly MountEntry[],
  directoryPath: string,
  virtualPath: string,
): { node_id: string; export_path: string }[] {
  const rel = virtualPath === directoryPath ? '' : virtualPath.slice(directoryPath.replace(/\/$/, '').length)
  return mounts.map((m) => {
    const base = (m.strategy === 'prefix_replace' && m.source_prefix ? m.source_prefix : m.source.export_path).replace(/\/+$/, '')
    // A file placeholder inside the directory, so dirOf() gives the directory.
    return { node_id: m.source.node_id, export_path: `${base}${m.strategy === 'prefix_replace' ? rel : ''}/x` }
  })
}

/** Up to `max` items spread evenly over the list (first and last included). */
export function sampleEvenly<T>(items: readonly T[], max: number): T[] {
  if (items.length <= max) return [...items]
  const out: T[] = []
  for (let i = 0; i < max; i++) out.push(items[Math.round((i * (items.length - 1)) / (max - 1))])
  return out
}

/** The Labels page URL that opens the rule editor pre-filled for a folder. */
export function applyLabelsUrl(t: RuleTarget): string {
  const q = new URLSearchParams({ tab: 'rules', new: '1', node_id: t.node_id, path_prefix: t.path_prefix })
  return `/labels?${q.toString()}`
}

// ---------------------------------------------------------------------------
// Previews

export type PreviewKind = 'image' | 'pdf' | 'text' | 'video' | 'audio' | 'none'

const IMAGE_MIME = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/svg+xml', 'image/avif', 'image/bmp', 'image/x-icon', 'image/vnd.microsoft.icon'])
const TEXT_MIME = new Set([
  'application/json',
  'application/xml',
  'application/javascript',
  'application/x-javascript',
  'application/typescript',
  'application/x-sh',
  'application/x-shellscript',
  'application/yaml',
  'application/x-yaml',
  'application/toml',
  'application/sql',
  'application/x-ndjson',
  'application/ld+json',
  'application/x-httpd-php',
])
const EXT: Record<string, PreviewKind> = {}
for (const e of ['png', 'jpg', 'jpeg', 'gif', 'webp', 'svg', 'avif', 'bmp', 'ico']) EXT[e] = 'image'
EXT.pdf = 'pdf'
for (const e of ['mp4', 'm4v', 'webm', 'mov', 'ogv']) EXT[e] = 'video'
for (const e of ['mp3', 'm4a', 'aac', 'wav', 'ogg', 'oga', 'opus', 'flac']) EXT[e] = 'audio'
for (const e of [
  'txt', 'md', 'markdown', 'rst', 'log', 'csv', 'tsv', 'json', 'jsonl', 'ndjson', 'xml', 'yaml', 'yml', 'toml', 'ini', 'cfg', 'conf',
  'env', 'sh', 'bash', 'zsh', 'fish', 'py', 'rb', 'pl', 'php', 'js', 'mjs', 'cjs', 'ts', 'tsx', 'jsx', 'css', 'scss', 'less', 'html',
  'htm', 'rs', 'go', 'c', 'h', 'cc', 'cpp', 'hpp', 'java', 'kt', 'swift', 'cs', 'sql', 'lua', 'r', 'tex', 'diff', 'patch', 'srt', 'vtt',
  'gitignore', 'dockerfile', 'makefile',
])
  EXT[e] = 'text'

/** The file's extension, lowercased (`Makefile` → `makefile`, `.env` → `env`). */
export function extensionOf(name: string): string {
  const i = name.lastIndexOf('.')
  return (i < 0 ? name : name.slice(i + 1)).toLowerCase()
}

/** Which preview a file gets: by MIME type, falling back to the extension. */
export function previewKind(mime: string | null | undefined, name: string): PreviewKind {
  const m = (mime ?? '').split(';')[0].trim().toLowerCase()
  if (m && m !== 'application/octet-stream') {
    if (IMAGE_MIME.has(m)) return 'image'
    if (m.startsWith('image/')) return 'none' // HEIC, TIFF, RAW: browsers cannot show them
    if (m === 'application/pdf') return 'pdf'
    if (m.startsWith('video/')) return 'video'
    if (m.startsWith('audio/')) return 'audio'
    if (m.startsWith('text/') || TEXT_MIME.has(m) || m.endsWith('+json') || m.endsWith('+xml')) return 'text'
  }
  return EXT[extensionOf(name)] ?? 'none'
}

/** Bytes of a text preview. */
export const TEXT_PREVIEW_BYTES = 64 * 1024

// ---------------------------------------------------------------------------
// Search

/** `GET /api/search` with `label` repeated (ANDed by the server). */
export function searchPath(q: string, labels: readonly string[], cursor?: string, limit = 100): string {
  const p = new URLSearchParams()
  if (q.trim()) p.set('q', q.trim())
  for (const l of labels) p.append('label', l)
  p.set('limit', String(limit))
  if (cursor) p.set('cursor', cursor)
  return `/api/search?${p.toString()}`
}

/** Turns one label filter on or off, keeping the others in order. */
export function toggleLabel(labels: readonly string[], label: string): string[] {
  return labels.includes(label) ? labels.filter((l) => l !== label) : [...labels, label]
}

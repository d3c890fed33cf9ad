// The lazily loaded directory tree of the file browser (WAI-ARIA tree view:
// one tab stop, arrow keys move, Right expands / goes to the first child,
// Left collapses / goes to the parent, Home/End, Enter or Space opens).
// A node's children are the directory documents under it (GET /api/vfs/tree,
// depth 1) plus the subdirectories its mounts synthesize, which only its
// listing (GET /api/vfs) shows.
import { isCancelledError, useQueryClient, type QueryClient } from '@tanstack/react-query'
import { ChevronDown, ChevronRight, Folder, FolderOpen, Loader2 } from 'lucide-react'
import { useCallback, useEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react'
import { api } from '@/lib/api'
import { cn } from '@/lib/utils'
import { listingQuery } from './queries'
import type { VfsTreeNode } from './types'

interface Child {
  path: string
  name: string
  synthesized?: boolean
}

type Loaded = { state: 'loading' } | { state: 'error'; message: string } | { state: 'done'; children: Child[] }

/** The listing, shared with the table's query; asked again if that query was cancelled under us (its page unmounted). */
async function fetchListing(qc: QueryClient, path: string) {
  for (let i = 0; ; i++) {
    try {
      return await qc.fetchQuery({ ...listingQuery(path), staleTime: 10_000 })
    } catch (e) {
      if (!isCancelledError(e) || i >= 2) throw e
    }
  }
}

async function loadChildren(qc: QueryClient, path: string, synthesized: boolean): Promise<Child[]> {
  const fetchTree = () =>
    qc.fetchQuery({
      queryKey: ['vfs-tree', path],
      queryFn: ({ signal }) => api<VfsTreeNode>('/api/vfs/tree', { query: { path, depth: 1 }, signal }),
      staleTime: 10_000,
    })
  // A synthesized folder has no directory document, hence no tree node: ask
  // the tree only for folders not known (or, from the listing, found) to be one.
  const noTree = Promise.resolve<VfsTreeNode>({ path, name: '', inode: 0, children: [] })
  const listingP = fetchListing(qc, path)
  const treeP = synthesized ? noTree : listingP.then((l) => (l.synthesized ? noTree : fetchTree()), fetchTree)
  const [tree, listing] = await Promise.allSettled([treeP, listingP])
  if (tree.status === 'rejected' && listing.status === 'rejected') throw tree.reason
  const byPath = new Map<string, Child>()
  if (tree.status === 'fulfilled') for (const c of tree.value.children) byPath.set(c.path, { path: c.path, name: c.name })
  if (listing.status === 'fulfilled')
    for (const e of listing.value.entries)
      if (e.kind === 'directory' && e.virtual_path && !byPath.has(e.virtual_path))
        byPath.set(e.virtual_path, { path: e.virtual_path, name: e.name, synthesized: e.synthesized === true })
  return [...byPath.values()].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true, sensitivity: 'base' }))
}

/** The path and every folder above it, from the root down. */
function ancestors(path: string): string[] {
  const segs = path.split('/').filter((s) => s !== '')
  const out = ['/']
  let p = ''
  for (const s of segs) {
    p += '/' + s
    out.push(p)
  }
  return out
}

interface Row {
  path: string
  name: string
  level: number
  posinset: number
  setsize: number
  parent: string | null
}

export function DirTree({ current, onOpen }: { current: string; onOpen: (path: string) => void }) {
  const qc = useQueryClient()
  const [expanded, setExpanded] = useState<Set<string>>(() => new Set(ancestors(current)))
  const [loaded, setLoaded] = useState<Map<string, Loaded>>(new Map())
  const [focused, setFocused] = useState<string>(current)
  const refs = useRef(new Map<string, HTMLLIElement>())
  const inFlight = useRef(new Set<string>())
  /** Folders known to be synthesized by a mount (no directory document). */
  const synthesized = useRef(new Set<string>())

  const load = useCallback(
    (path: string, force = false) => {
      if (inFlight.current.has(path)) return
      // Loaded, or failed: a failed folder is asked again only when the user expands it again.
      if (!force && loaded.has(path)) return
      inFlight.current.add(path)
      setLoaded((m) => (m.get(path)?.state === 'done' ? m : new Map(m).set(path, { state: 'loading' })))
      loadChildren(qc, path, synthesized.current.has(path))
        .then(
          (children) => {
            for (const c of children) if (c.synthesized) synthesized.current.add(c.path)
            setLoaded((m) => new Map(m).set(path, { state: 'done', children }))
          },
          (e: unknown) => setLoaded((m) => new Map(m).set(path, { state: 'error', message: e instanceof Error ? e.message : String(e) })),
        )
        .finally(() => inFlight.current.delete(path))
    },
    [qc, loaded],
  )

  // Opening a folder elsewhere (breadcrumbs, the table) reveals it here.
  useEffect(() => {
    setExpanded((s) => {
      const want = ancestors(current)
      if (want.every((a) => s.has(a))) return s
      const n = new Set(s)
      for (const a of want) n.add(a)
      return n
    })
    setFocused(current)
  }, [current])

  useEffect(() => {
    for (const p of expanded) load(p)
  }, [expanded, load])

  const rows = useMemo(() => {
    const out: Row[] = [{ path: '/', name: 'All files', level: 1, posinset: 1, setsize: 1, parent: null }]
    const walk = (path: string, level: number) => {
      if (!expanded.has(path)) return
      const l = loaded.get(path)
      if (l?.state !== 'done') return
      l.children.forEach((c, i) => {
        out.push({ path: c.path, name: c.name, level, posinset: i + 1, setsize: l.children.length, parent: path })
        walk(c.path, level + 1)
      })
    }
    walk('/', 2)
    return out
  }, [expanded, loaded])

  const focusedRow = rows.some((r) => r.path === focused) ? focused : (rows.find((r) => current.startsWith(r.path))?.path ?? '/')

  const move = (path: string) => {
    setFocused(path)
    refs.current.get(path)?.focus()
  }
  const toggle = (path: string, open?: boolean) => {
    const want = open ?? !expanded.has(path)
    if (want && loaded.get(path)?.state === 'error') load(path, true)
    setExpanded((s) => {
      const n = new Set(s)
      if (want) n.add(path)
      else n.delete(path)
      return n
    })
  }
  const isLeaf = (path: string) => {
    const l = loaded.get(path)
    return l?.state === 'done' && l.children.length === 0
  }

  const onKeyDown = (e: KeyboardEvent<HTMLUListElement>) => {
    const i = rows.findIndex((r) => r.path === focusedRow)
    if (i < 0) return
    const row = rows[i]
    let handled = true
    switch (e.key) {
      case 'ArrowDown':
        if (i + 1 < rows.length) move(rows[i + 1].path)
        break
      case 'ArrowUp':
        if (i > 0) move(rows[i - 1].path)
        break
      case 'Home':
        move(rows[0].path)
        break
      case 'End':
        move(rows[rows.length - 1].path)
        break
      case 'ArrowRight':
        if (isLeaf(row.path)) break
        if (!expanded.has(row.path)) toggle(row.path, true)
        else if (rows[i + 1]?.parent === row.path) move(rows[i + 1].path)
        break
      case 'ArrowLeft':
        if (expanded.has(row.path) && !isLeaf(row.path)) toggle(row.path, false)
        else if (row.parent) move(row.parent)
        break
      case 'Enter':
      case ' ':
        onOpen(row.path)
        break
      default:
        handled = false
    }
    if (handled) e.preventDefault()
  }

  return (
    <ul role="tree" aria-label="Folders" className="grid gap-px text-sm" onKeyDown={onKeyDown} data-testid="file-tree">
      {rows.map((r) => {
        const open = expanded.has(r.path)
        const l = loaded.get(r.path)
        const leaf = isLeaf(r.path)
        const selected = r.path === current
        return (
          <li
            key={r.path}
            ref={(el) => {
              if (el) refs.current.set(r.path, el)
              else refs.current.delete(r.path)
            }}
            role="treeitem"
            aria-level={r.level}
            aria-posinset={r.posinset}
            aria-setsize={r.setsize}
            aria-expanded={leaf ? undefined : open}
            aria-selected={selected}
            aria-busy={l?.state === 'loading' ? true : undefined}
            tabIndex={r.path === focusedRow ? 0 : -1}
            data-path={r.path}
            onFocus={() => setFocused(r.path)}
            onClick={() => {
              setFocused(r.path)
              onOpen(r.path)
            }}
            className={cn(
              'flex cursor-pointer items-center gap-1 rounded-md py-1 pr-2 outline-none focus-visible:outline-2 focus-visible:outline-ring',
              selected ? 'bg-accent font-medium text-accent-foreground' : 'hover:bg-muted',
            )}
            style={{ paddingLeft: `${(r.level - 1) * 0.9 + 0.25}rem` }}
            title={r.path}
          >
            <span
              aria-hidden="true"
              className="grid size-5 shrink-0 place-items-center rounded text-muted-foreground hover:bg-muted-foreground/15"
              onClick={(e) => {
                e.stopPropagation()
                if (!leaf) toggle(r.path)
              }}
            >
              {l?.state === 'loading' ? (
                <Loader2 className="size-3.5 animate-spin" />
              ) : leaf ? null : open ? (
                <ChevronDown className="size-3.5" />
              ) : (
                <ChevronRight className="size-3.5" />
              )}
            </span>
            {open && !leaf ? <FolderOpen className="size-4 shrink-0 text-muted-foreground" aria-hidden="true" /> : <Folder className="size-4 shrink-0 text-muted-foreground" aria-hidden="true" />}
            <span className="truncate">{r.name}</span>
            {l?.state === 'error' && (
              <span className="ml-auto text-xs text-destructive" title={l.message}>
                failed
              </span>
            )}
          </li>
        )
      })}
    </ul>
  )
}

// The directory tree (role=tree): arrow keys move, Right/Left expand and
// collapse, Home/End jump, Enter/Space select; one item is in the tab order.
import { ChevronDown, ChevronRight, Folder, FolderOpen } from 'lucide-react'
import { useEffect, useId, useMemo, useRef, useState, type KeyboardEvent } from 'react'
import { Badge } from '@/components/ui/badge'
import { cn } from '@/lib/utils'
import { pathChain, visibleRows, type TreeNode } from './logic'

export function DirTree({ root, selected, onSelect }: { root: TreeNode; selected: string; onSelect: (path: string) => void }) {
  const [expanded, setExpanded] = useState<Set<string>>(() => new Set(pathChain(selected)))
  const [focused, setFocused] = useState(selected)
  const refs = useRef(new Map<string, HTMLLIElement>())
  const focusOnRender = useRef(false)
  const treeId = useId()

  // Selecting a directory elsewhere (a link, the listing) reveals it.
  useEffect(() => {
    setExpanded((e) => {
      const chain = pathChain(selected).slice(0, -1)
      if (chain.every((p) => e.has(p))) return e
      const n = new Set(e)
      chain.forEach((p) => n.add(p))
      return n
    })
    setFocused(selected)
  }, [selected])

  const rows = useMemo(() => visibleRows(root, expanded), [root, expanded])
  const byPath = useMemo(() => new Map(rows.map((r) => [r.path, r])), [rows])
  const current = byPath.has(focused) ? focused : rows.some((r) => r.path === selected) ? selected : root.path

  useEffect(() => {
    if (focusOnRender.current) {
      focusOnRender.current = false
      refs.current.get(current)?.focus()
    }
  })

  const moveTo = (path: string) => {
    focusOnRender.current = true
    setFocused(path)
  }
  const toggle = (path: string, open?: boolean) =>
    setExpanded((e) => {
      const n = new Set(e)
      if (open ?? !n.has(path)) n.add(path)
      else n.delete(path)
      return n
    })

  const onKeyDown = (e: KeyboardEvent, node: TreeNode) => {
    const i = rows.findIndex((r) => r.path === node.path)
    const parent = rows.slice(0, i).reverse().find((r) => r.depth === node.depth - 1)
    switch (e.key) {
      case 'ArrowDown':
        if (i < rows.length - 1) moveTo(rows[i + 1].path)
        break
      case 'ArrowUp':
        if (i > 0) moveTo(rows[i - 1].path)
        break
      case 'ArrowRight':
        if (node.children.length && !expanded.has(node.path)) toggle(node.path, true)
        else if (node.children.length) moveTo(node.children[0].path)
        break
      case 'ArrowLeft':
        if (node.children.length && expanded.has(node.path)) toggle(node.path, false)
        else if (parent) moveTo(parent.path)
        break
      case 'Home':
        moveTo(rows[0].path)
        break
      case 'End':
        moveTo(rows[rows.length - 1].path)
        break
      case 'Enter':
      case ' ':
        onSelect(node.path)
        break
      default:
        return
    }
    e.preventDefault()
    e.stopPropagation()
  }

  const render = (node: TreeNode) => {
    const open = expanded.has(node.path)
    const isSel = node.path === selected
    const mounts = node.doc.mounts?.length ?? 0
    return (
      <li
        key={node.path}
        ref={(el) => {
          if (el) refs.current.set(node.path, el)
          else refs.current.delete(node.path)
        }}
        role="treeitem"
        aria-selected={isSel}
        aria-expanded={node.children.length ? open : undefined}
        aria-level={node.depth + 1}
        aria-labelledby={`${treeId}-${node.doc.inode}`}
        tabIndex={node.path === current ? 0 : -1}
        onKeyDown={(e) => onKeyDown(e, node)}
        onFocus={(e) => {
          if (e.target === e.currentTarget) setFocused(node.path)
        }}
        data-testid="vfs-dir"
        data-path={node.path}
        className="outline-none [&:focus-visible>div]:outline-2 [&:focus-visible>div]:outline-ring"
      >
        <div
          className={cn(
            'flex cursor-pointer items-center gap-1 rounded-md py-1 pr-2 text-sm hover:bg-accent',
            isSel && 'bg-accent font-medium text-accent-foreground',
          )}
          style={{ paddingLeft: `${node.depth * 14 + 4}px` }}
          onClick={() => {
            setFocused(node.path)
            onSelect(node.path)
          }}
        >
          <span
            aria-hidden="true"
            className={cn('inline-flex size-4 items-center justify-center', !node.children.length && 'invisible')}
            onClick={(e) => {
              e.stopPropagation()
              toggle(node.path)
            }}
          >
            {open ? <ChevronDown className="size-3.5" /> : <ChevronRight className="size-3.5" />}
          </span>
          {open || isSel ? <FolderOpen className="size-4 shrink-0 text-muted-foreground" aria-hidden="true" /> : <Folder className="size-4 shrink-0 text-muted-foreground" aria-hidden="true" />}
          <span id={`${treeId}-${node.doc.inode}`} className="flex min-w-0 flex-1 items-center gap-1">
            <span className="truncate">{node.path === '/' ? '/' : node.name}</span>
            {mounts > 0 && (
              <Badge variant="secondary" className="ml-auto" data-testid="vfs-dir-mounts">
                {mounts}
                <span className="sr-only">{mounts === 1 ? ' mount' : ' mounts'}</span>
              </Badge>
            )}
          </span>
        </div>
        {node.children.length > 0 && open && (
          <ul role="group">{node.children.map(render)}</ul>
        )}
      </li>
    )
  }

  return (
    <ul role="tree" aria-label="Virtual directories" data-testid="vfs-tree" className="grid gap-0.5">
      {render(root)}
    </ul>
  )
}

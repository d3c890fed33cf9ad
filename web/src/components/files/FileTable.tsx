// The virtualised listing of one directory: a real <table> whose body holds
// only the rows in view (plus padding rows above and below), so 500,000
// entries render as fast as 50. Sortable headers (buttons, aria-sort), one
// tab stop for the rows (arrow keys, Page Up/Down, Home/End move; Enter
// opens), and a context menu (right click, the menu key or Shift+F10).
import { useVirtualizer } from '@tanstack/react-virtual'
import { ArrowDown, ArrowUp, ChevronsUpDown, Download, File, Folder, FolderOpen, Info, Tags } from 'lucide-react'
import { memo, useCallback, useEffect, useRef, useState, type KeyboardEvent } from 'react'
import { NodeBadge } from '@/components/common'
import { ContextMenu, ContextMenuContent, ContextMenuItem, ContextMenuSeparator, ContextMenuTrigger } from '@/components/ui/menu'
import { humanDate, humanSize, relativeTime } from '@/lib/format'
import { cn } from '@/lib/utils'
import { ariaSort, exactBytesText, type SortKey, type SortState } from './logic'
import type { VfsEntry } from './types'

const ROW_HEIGHT = 37

export interface FileTableProps {
  entries: VfsEntry[]
  total: number
  sort: SortState
  onSort: (key: SortKey) => void
  onOpen: (e: VfsEntry) => void
  onDetails: (e: VfsEntry) => void
  onDownload: (e: VfsEntry) => void
  onApplyLabels: (e: VfsEntry | null) => void
  /** Changes when the directory changes: resets scroll and the active row. */
  resetKey: string
}

const COLUMNS: { key: SortKey; label: string; className: string }[] = [
  { key: 'name', label: 'Name', className: 'w-auto' },
  { key: 'size', label: 'Size', className: 'w-28 text-right' },
  { key: 'mtime', label: 'Modified', className: 'w-48' },
  { key: 'node', label: 'Node', className: 'w-40' },
]

export function FileTable({ entries, total, sort, onSort, onOpen, onDetails, onDownload, onApplyLabels, resetKey }: FileTableProps) {
  const scrollRef = useRef<HTMLDivElement>(null)
  const [active, setActive] = useState(0)
  const [menuEntry, setMenuEntry] = useState<VfsEntry | null>(null)
  /** A row to focus once it is rendered (after a keyboard move scrolled to it). */
  const pendingFocus = useRef<number | null>(null)
  const v = useVirtualizer({
    count: entries.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
  })

  useEffect(() => {
    setActive(0)
    scrollRef.current?.scrollTo({ top: 0 })
  }, [resetKey])
  const activeIndex = Math.min(active, Math.max(0, entries.length - 1))
  // Stable row callbacks, so a scroll step renders only the rows that came
  // into view (FileRow is memoised).
  const onOpenRef = useRef(onOpen)
  onOpenRef.current = onOpen
  const open = useCallback((e: VfsEntry) => onOpenRef.current(e), [])
  const menu = useCallback((i: number, e: VfsEntry) => {
    setActive(i)
    setMenuEntry(e)
  }, [])

  useEffect(() => {
    if (pendingFocus.current === null) return
    const el = scrollRef.current?.querySelector<HTMLElement>(`tr[data-index="${pendingFocus.current}"]`)
    if (el) {
      pendingFocus.current = null
      el.focus({ preventScroll: true })
    }
  })

  const items = v.getVirtualItems()
  const padTop = items.length ? items[0].start : 0
  const padBottom = items.length ? v.getTotalSize() - items[items.length - 1].end : 0
  const activeRendered = items.some((it) => it.index === activeIndex)

  const goTo = (i: number) => {
    const n = Math.max(0, Math.min(entries.length - 1, i))
    setActive(n)
    v.scrollToIndex(n, { align: 'auto' })
    pendingFocus.current = n
  }

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    if (entries.length === 0) return
    if ((e.target as HTMLElement).closest('thead')) return
    const page = Math.max(1, Math.floor((scrollRef.current?.clientHeight ?? 400) / ROW_HEIGHT) - 1)
    let handled = true
    switch (e.key) {
      case 'ArrowDown':
        goTo(activeIndex + 1)
        break
      case 'ArrowUp':
        goTo(activeIndex - 1)
        break
      case 'PageDown':
        goTo(activeIndex + page)
        break
      case 'PageUp':
        goTo(activeIndex - page)
        break
      case 'Home':
        goTo(0)
        break
      case 'End':
        goTo(entries.length - 1)
        break
      case 'Enter':
        onOpen(entries[activeIndex])
        break
      default:
        handled = false
    }
    if (handled) e.preventDefault()
  }

  return (
    <ContextMenu>
      <ContextMenuTrigger asChild>
        <div
          ref={scrollRef}
          className="relative min-h-0 flex-1 overflow-auto rounded-md border outline-none focus-visible:outline-2 focus-visible:outline-ring"
          onKeyDown={onKeyDown}
          onContextMenu={(e) => {
            if (!(e.target as HTMLElement).closest('tbody tr[data-index]')) setMenuEntry(null)
          }}
          tabIndex={activeRendered || entries.length === 0 ? -1 : 0}
          onFocus={(e) => {
            // Tabbing onto the scroller while the active row is out of view:
            // bring it back and focus it.
            if (e.target === e.currentTarget && entries.length > 0) goTo(activeIndex)
          }}
          aria-label={activeRendered ? undefined : 'Directory contents'}
          role={activeRendered ? undefined : 'region'}
        >
          <table className="w-full table-fixed border-separate border-spacing-0 text-sm" aria-rowcount={entries.length + 1} aria-label="Directory contents" data-testid="file-table" data-total={total} data-count={entries.length}>
            <colgroup>
              {COLUMNS.map((c) => (
                <col key={c.key} className={c.className.split(' ')[0]} />
              ))}
            </colgroup>
            <thead className="sticky top-0 z-10 bg-background shadow-[0_1px_0_var(--border)]">
              <tr aria-rowindex={1}>
                {COLUMNS.map((c) => {
                  const s = ariaSort(sort, c.key)
                  const Icon = s === 'ascending' ? ArrowUp : s === 'descending' ? ArrowDown : ChevronsUpDown
                  return (
                    <th key={c.key} scope="col" aria-sort={s} className={cn('h-9 px-3 text-left text-xs font-medium text-muted-foreground', c.className)}>
                      <button
                        type="button"
                        onClick={() => onSort(c.key)}
                        className={cn(
                          'inline-flex items-center gap-1 rounded px-1 py-0.5 hover:text-foreground focus-visible:outline-2 focus-visible:outline-ring',
                          s !== 'none' && 'text-foreground',
                        )}
                        data-testid={`sort-${c.key}`}
                      >
                        {c.label}
                        <Icon className={cn('size-3.5', s === 'none' && 'opacity-50')} aria-hidden="true" />
                      </button>
                    </th>
                  )
                })}
              </tr>
            </thead>
            <tbody>
              {padTop > 0 && (
                <tr aria-hidden="true">
                  <td colSpan={4} style={{ height: padTop, padding: 0 }} />
                </tr>
              )}
              {items.map((it) => (
                <FileRow key={it.key} entry={entries[it.index]} index={it.index} isActive={it.index === activeIndex} onActivate={setActive} onOpen={open} onMenu={menu} />
              ))}
              {padBottom > 0 && (
                <tr aria-hidden="true">
                  <td colSpan={4} style={{ height: padBottom, padding: 0 }} />
                </tr>
              )}
            </tbody>
          </table>
        </div>
      </ContextMenuTrigger>
      <ContextMenuContent data-testid="file-context-menu">
        {menuEntry ? (
          <>
            <ContextMenuItem onSelect={() => onOpen(menuEntry)}>
              <FolderOpen /> Open
            </ContextMenuItem>
            {menuEntry.kind === 'file' && (
              <ContextMenuItem onSelect={() => onDownload(menuEntry)}>
                <Download /> Download
              </ContextMenuItem>
            )}
            {menuEntry.kind === 'file' && (
              <ContextMenuItem onSelect={() => onDetails(menuEntry)}>
                <Info /> Show details
              </ContextMenuItem>
            )}
            {menuEntry.kind === 'directory' && (
              <>
                <ContextMenuSeparator />
                <ContextMenuItem onSelect={() => onApplyLabels(menuEntry)}>
                  <Tags /> Apply labels to folder…
                </ContextMenuItem>
              </>
            )}
          </>
        ) : (
          <ContextMenuItem onSelect={() => onApplyLabels(null)}>
            <Tags /> Apply labels to this folder…
          </ContextMenuItem>
        )}
      </ContextMenuContent>
    </ContextMenu>
  )
}

/** One row of the listing; re-renders only when its entry or its active state changes. */
const FileRow = memo(function FileRow({
  entry: e,
  index,
  isActive,
  onActivate,
  onOpen,
  onMenu,
}: {
  entry: VfsEntry
  index: number
  isActive: boolean
  onActivate: (i: number) => void
  onOpen: (e: VfsEntry) => void
  onMenu: (i: number, e: VfsEntry) => void
}) {
  const dir = e.kind === 'directory'
  return (
    <tr
      data-index={index}
      aria-rowindex={index + 2}
      aria-selected={isActive}
      tabIndex={isActive ? 0 : -1}
      data-testid="file-row"
      data-name={e.name}
      data-kind={e.kind}
      onFocus={() => onActivate(index)}
      onClick={() => onActivate(index)}
      onDoubleClick={() => onOpen(e)}
      onContextMenu={() => onMenu(index, e)}
      className={cn(
        'cursor-default outline-none hover:bg-muted/50 focus-visible:outline-2 focus-visible:-outline-offset-2 focus-visible:outline-ring [&>td]:border-b [&>td]:border-border',
        isActive && 'bg-muted/60',
      )}
      style={{ height: ROW_HEIGHT }}
    >
      <td className="truncate px-3">
        <span className="inline-flex max-w-full items-center gap-2 align-middle">
          {dir ? <Folder className="size-4 shrink-0 text-primary" aria-hidden="true" /> : <File className="size-4 shrink-0 text-muted-foreground" aria-hidden="true" />}
          {/* A name that is not UTF-8 shows as text with U+FFFD; the tooltip has its exact bytes. */}
          <span className="truncate" title={exactBytesText(e.name_bytes) ?? e.name}>
            {e.name}
          </span>
          {dir && <span className="sr-only">(folder)</span>}
        </span>
      </td>
      <td className="px-3 text-right tabular-nums text-muted-foreground">{dir ? '—' : humanSize(e.size)}</td>
      <td className="truncate px-3 text-muted-foreground" title={e.mtime ? humanDate(e.mtime) : undefined}>
        {e.mtime ? relativeTime(e.mtime) : '—'}
      </td>
      <td className="truncate px-3">{e.node_id ? <NodeBadge nodeId={e.node_id} /> : <span className="text-muted-foreground">—</span>}</td>
    </tr>
  )
})

// Search (/search?q=…&label=…): files of every node by name (substring or
// glob) and/or labels (ANDed), a page at a time with infinite scroll. The
// query lives in the URL so results can be linked; ?focus=1 (the shell's
// Ctrl+K and "/") focuses the box.
import { keepPreviousData, useInfiniteQuery, useQuery } from '@tanstack/react-query'
import { File, Search as SearchIcon, Tag } from 'lucide-react'
import { useEffect, useId, useMemo, useRef, useState } from 'react'
import { useLocation, useSearchParams } from 'react-router-dom'
import { EmptyState, ErrorMessage, NodeBadge, PageHeader } from '@/components/common'
import { FileDrawer } from '@/components/files/FileDrawer'
import { searchPath, toggleLabel } from '@/components/files/logic'
import type { FilePage, LabelList } from '@/components/files/types'
import { Button } from '@/components/ui/button'
import { Input } from '@/components/ui/input'
import { Field } from '@/components/ui/label'
import { LoadingRows, Skeleton } from '@/components/ui/skeleton'
import { api, ApiError } from '@/lib/api'
import { humanCount, humanDate, humanSize, relativeTime } from '@/lib/format'
import { cn } from '@/lib/utils'

const DEBOUNCE_MS = 250
const PAGE = 100

export default function SearchPage() {
  const [params, setParams] = useSearchParams()
  const location = useLocation()
  const inputId = useId()
  const inputRef = useRef<HTMLInputElement>(null)
  const urlQ = params.get('q') ?? ''
  const labels = useMemo(() => params.getAll('label'), [params])
  const focus = params.get('focus') === '1'
  const [text, setText] = useState(urlQ)
  const [openId, setOpenId] = useState<string | null>(null)

  // The URL changed under us (back/forward, a link, Ctrl+K): follow it.
  const lastWritten = useRef(urlQ)
  useEffect(() => {
    if (urlQ !== lastWritten.current) {
      lastWritten.current = urlQ
      setText(urlQ)
    }
  }, [urlQ])

  // Typing: write ?q= after a pause (replacing the history entry).
  useEffect(() => {
    if (text === urlQ) return
    const t = window.setTimeout(() => {
      lastWritten.current = text
      setParams(
        (p) => {
          const n = new URLSearchParams(p)
          if (text) n.set('q', text)
          else n.delete('q')
          n.delete('focus')
          return n
        },
        { replace: true },
      )
    }, DEBOUNCE_MS)
    return () => window.clearTimeout(t)
  }, [text, urlQ, setParams])

  useEffect(() => {
    if (focus) inputRef.current?.focus()
  }, [focus, location.key])

  const setLabels = (next: string[]) =>
    setParams(
      (p) => {
        const n = new URLSearchParams(p)
        n.delete('label')
        for (const l of next) n.append('label', l)
        n.delete('focus')
        return n
      },
      { replace: true },
    )

  const known = useQuery({
    queryKey: ['labels', 'list'],
    queryFn: ({ signal }) => api<LabelList>('/api/labels', { signal }),
    staleTime: 30_000,
  })

  const q = urlQ.trim()
  const active = q !== '' || labels.length > 0
  const results = useInfiniteQuery({
    queryKey: ['search', q, labels],
    queryFn: ({ pageParam, signal }) => api<FilePage>(searchPath(q, labels, pageParam, PAGE), { signal }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    enabled: active,
    placeholderData: keepPreviousData,
    retry: (n, e) => n < 2 && !(e instanceof ApiError && e.status < 500 && e.status !== 0),
  })
  const items = useMemo(() => results.data?.pages.flatMap((p) => p.items) ?? [], [results.data])

  const err = results.error instanceof ApiError ? results.error : null
  const qError = err && err.status === 400 && (err.field === 'q' || err.field === 'label') ? err.detail : null

  // Infinite scroll: fetch the next page when the sentinel comes into view.
  const sentinel = useRef<HTMLDivElement>(null)
  const { hasNextPage, isFetchingNextPage, fetchNextPage } = results
  useEffect(() => {
    const el = sentinel.current
    if (!el || !hasNextPage) return
    const io = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting) && !isFetchingNextPage) fetchNextPage()
      },
      { rootMargin: '400px' },
    )
    io.observe(el)
    return () => io.disconnect()
  }, [hasNextPage, isFetchingNextPage, fetchNextPage, items.length])

  const labelItems = known.data?.items ?? []
  // Labels in the URL that no file carries any more still show, so they can be turned off.
  const chips = [...new Set([...labelItems.map((l) => l.label), ...labels])]

  return (
    <div className="grid gap-4">
      <PageHeader title="Search" description="Find files on every node by name or label." />
      <form role="search" onSubmit={(e) => e.preventDefault()} className="grid max-w-2xl gap-3">
        <Field id={inputId} label="File name" error={qError} hint="Part of a name, or a glob such as *.pdf or IMG_20??-*; case does not matter.">
          <div className="relative">
            <SearchIcon className="pointer-events-none absolute left-2.5 top-2.5 size-4 text-muted-foreground" aria-hidden="true" />
            <Input
              id={inputId}
              ref={inputRef}
              type="search"
              value={text}
              onChange={(e) => setText(e.target.value)}
              placeholder="Search files…"
              autoComplete="off"
              spellCheck={false}
              maxLength={256}
              className="pl-8"
              aria-invalid={qError ? true : undefined}
              aria-describedby={qError ? `${inputId}-error` : undefined}
              data-testid="search-input"
            />
          </div>
        </Field>
        <div className="grid gap-1.5">
          <span id={`${inputId}-labels`} className="text-sm font-medium">
            Labels
          </span>
          {known.isPending ? (
            <Skeleton className="h-6 w-64" />
          ) : known.isError ? (
            <ErrorMessage error={known.error} />
          ) : chips.length === 0 ? (
            <p className="text-sm text-muted-foreground">No labels yet. Add labels to files from their details, or with rules on the Labels page.</p>
          ) : (
            <div role="group" aria-labelledby={`${inputId}-labels`} className="flex flex-wrap gap-1.5">
              {chips.map((l) => {
                const on = labels.includes(l)
                return (
                  <button
                    key={l}
                    type="button"
                    aria-pressed={on}
                    onClick={() => setLabels(toggleLabel(labels, l))}
                    data-testid="label-filter"
                    data-label={l}
                    className={cn(
                      'inline-flex items-center gap-1 rounded-full border px-2.5 py-0.5 text-xs font-medium focus-visible:outline-2 focus-visible:outline-ring',
                      on ? 'border-transparent bg-primary text-primary-foreground' : 'border-input text-foreground hover:bg-muted',
                    )}
                  >
                    <Tag className="size-3" aria-hidden="true" />
                    {l}
                  </button>
                )
              })}
            </div>
          )}
          {labels.length > 1 && <p className="text-xs text-muted-foreground">Files must carry every selected label.</p>}
        </div>
      </form>

      <section aria-label="Results" className="grid gap-2">
        {!active ? (
          <EmptyState title="Search every node" icon={<SearchIcon className="size-8" />}>
            Type part of a file name above, or pick a label. Press Ctrl+K or / anywhere to come back here.
          </EmptyState>
        ) : results.isPending ? (
          <LoadingRows rows={6} label="Searching" />
        ) : results.isError && !qError && items.length === 0 ? (
          <ErrorMessage error={results.error} />
        ) : qError ? null : items.length === 0 ? (
          <EmptyState title="No files found">
            Nothing matches {q ? <>“{q}”</> : 'these labels'}
            {q && labels.length > 0 ? ' with these labels' : ''}.{' '}
            {q ? 'Try a shorter part of the name, or a glob such as *.pdf' : 'Turn a label off'}
            {q && labels.length > 0 ? ', or turn a label off' : ''}.
          </EmptyState>
        ) : (
          <>
            <p className="text-sm text-muted-foreground" aria-live="polite" data-testid="search-count">
              {humanCount(items.length)} {items.length === 1 ? 'file' : 'files'}
              {hasNextPage ? ' so far (more below)' : ''}
              {results.isFetching && !isFetchingNextPage ? ' · updating…' : ''}
            </p>
            <ul className={cn('grid gap-1', results.isPlaceholderData && 'opacity-60')}>
              {items.map((f) => (
                <li key={f.id}>
                  <button
                    type="button"
                    onClick={() => setOpenId(f.id)}
                    data-testid="search-result"
                    data-name={f.name}
                    data-file-id={f.id}
                    className="flex w-full items-start gap-3 rounded-md border bg-card px-3 py-2 text-left hover:bg-muted/50 focus-visible:outline-2 focus-visible:outline-ring"
                  >
                    <File className="mt-0.5 size-4 shrink-0 text-muted-foreground" aria-hidden="true" />
                    <span className="grid min-w-0 flex-1 gap-0.5">
                      <span className="flex flex-wrap items-center gap-2">
                        <span className="truncate font-medium">{f.name}</span>
                        <NodeBadge nodeId={f.node_id} />
                      </span>
                      <span className="truncate font-mono text-xs text-muted-foreground" title={f.export_path}>
                        {f.export_parent}
                      </span>
                    </span>
                    <span className="shrink-0 text-right text-xs text-muted-foreground">
                      <span className="block tabular-nums">{humanSize(f.size)}</span>
                      <span className="block" title={humanDate(f.mtime)}>
                        {relativeTime(f.mtime)}
                      </span>
                    </span>
                  </button>
                </li>
              ))}
            </ul>
            {results.isFetchNextPageError && <ErrorMessage error={results.error} />}
            <div ref={sentinel} aria-hidden="true" className="h-px" />
            {hasNextPage && (
              <div className="flex justify-center">
                <Button variant="outline" onClick={() => fetchNextPage()} disabled={isFetchingNextPage} data-testid="search-load-more">
                  {isFetchingNextPage ? 'Loading…' : 'Load more'}
                </Button>
              </div>
            )}
          </>
        )}
      </section>

      <FileDrawer fileId={openId} onClose={() => setOpenId(null)} />
    </div>
  )
}

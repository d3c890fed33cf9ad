// Direct label assignments, from the replica: a sortable table, a path
// filter, and the file drawer on click. File names and paths come from
// GET /api/files/{id} (cached under the same key as the file drawer's).
import { useQueries } from '@tanstack/react-query'
import { ArrowDown, ArrowUp, ArrowUpDown, Tags } from 'lucide-react'
import { useMemo, useState } from 'react'
import { EmptyState, ErrorMessage, LabelChip } from '@/components/common'
import { FileDrawer } from '@/components/files/FileDrawer'
import { Button } from '@/components/ui/button'
import { Input } from '@/components/ui/input'
import { Label } from '@/components/ui/label'
import { LoadingRows, Skeleton } from '@/components/ui/skeleton'
import { Table, TBody, TD, TH, THead, TR } from '@/components/ui/table'
import { api, ApiError } from '@/lib/api'
import { useLabelAssignments } from '@/lib/docs'
import { humanCount, humanDate, relativeTime } from '@/lib/format'
import { matchesFilter, sortRows, type AssignmentRow, type SortDir, type SortKey } from './logic'

const PAGE = 50
/** Up to this many assignments, every file is fetched so filter and sort see all paths. */
const LOAD_ALL = 500

interface FileBrief {
  _id: string
  name: string
  status?: string
  source: { node_id: string; export_path: string }
}

export function AssignmentsTab() {
  const assignments = useLabelAssignments()
  const [filter, setFilter] = useState('')
  const [sort, setSort] = useState<{ key: SortKey; dir: SortDir }>({ key: 'updated', dir: 'desc' })
  const [page, setPage] = useState(0)
  const [fileId, setFileId] = useState<string | null>(null)
  const docs = useMemo(() => assignments.data ?? [], [assignments.data])

  // Which files to fetch: all of them when few, else the current page.
  const presorted = useMemo(() => sortRows(docs.map((doc) => ({ doc })), sort.key, sort.dir), [docs, sort])
  const loadAll = docs.length <= LOAD_ALL
  const idsToLoad = loadAll ? docs.map((d) => d.file_id) : presorted.slice(page * PAGE, (page + 1) * PAGE).map((r) => r.doc.file_id)
  const files = useQueries({
    queries: idsToLoad.map((id) => ({
      queryKey: ['file', id],
      queryFn: ({ signal }: { signal: AbortSignal }) => api<FileBrief>(`/api/files/${encodeURIComponent(id)}`, { signal }),
      staleTime: 60_000,
      retry: (n: number, e: unknown) => n < 2 && !(e instanceof ApiError && e.status === 404),
    })),
    combine: (rs) => {
      const m = new Map<string, { file?: FileBrief; missing?: boolean }>()
      rs.forEach((r, i) => m.set(idsToLoad[i], { file: r.data, missing: r.error instanceof ApiError && r.error.status === 404 }))
      return m
    },
  })

  const rows: (AssignmentRow & { missing?: boolean; loading: boolean })[] = useMemo(() => {
    const withFiles = docs.map((doc) => {
      const f = files.get(doc.file_id)
      return { doc, name: f?.file?.name, path: f?.file?.source.export_path, missing: f?.missing, loading: !!f && !f.file && !f.missing }
    })
    return sortRows(withFiles, sort.key, sort.dir).filter((r) => matchesFilter(r, filter)) as (AssignmentRow & { missing?: boolean; loading: boolean })[]
  }, [docs, files, sort, filter])

  const pages = Math.max(1, Math.ceil(rows.length / PAGE))
  const cur = Math.min(page, pages - 1)
  const visible = rows.slice(cur * PAGE, (cur + 1) * PAGE)

  const header = (key: SortKey, label: string) => {
    const active = sort.key === key
    return (
      <TH scope="col" aria-sort={active ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none'}>
        <button
          type="button"
          className="inline-flex items-center gap-1 rounded-sm hover:text-foreground focus-visible:outline-2 focus-visible:outline-ring"
          onClick={() => setSort((s) => ({ key, dir: s.key === key && s.dir === 'asc' ? 'desc' : 'asc' }))}
          data-testid={`sort-${key}`}
        >
          {label}
          {active ? sort.dir === 'asc' ? <ArrowUp className="size-3" aria-hidden="true" /> : <ArrowDown className="size-3" aria-hidden="true" /> : <ArrowUpDown className="size-3 opacity-50" aria-hidden="true" />}
        </button>
      </TH>
    )
  }

  if (assignments.isPending) return <LoadingRows rows={6} label="Loading label assignments" />
  if (assignments.isError) return <ErrorMessage error={assignments.error} />
  if (docs.length === 0)
    return (
      <EmptyState title="No labels assigned yet" icon={<Tags className="size-8" />}>
        Open a file in Files or Search and add labels in its details drawer; to label a whole folder, create a rule in the Rules tab.
      </EmptyState>
    )

  return (
    <div className="grid gap-3">
      <div className="flex flex-wrap items-end gap-3">
        <div className="grid w-full max-w-sm gap-1.5">
          <Label htmlFor="assignment-filter">Filter by path</Label>
          <Input
            id="assignment-filter"
            type="search"
            placeholder="e.g. /home/me/taxes"
            value={filter}
            onChange={(e) => {
              setFilter(e.target.value)
              setPage(0)
            }}
            data-testid="assignment-filter"
          />
        </div>
        <p className="pb-2 text-sm text-muted-foreground" aria-live="polite">
          {filter.trim() ? `${humanCount(rows.length)} of ${humanCount(docs.length)} files` : `${humanCount(docs.length)} ${docs.length === 1 ? 'file' : 'files'} with direct labels`}
          {!loadAll && ' · paths load page by page, so the filter and the sort by file see the loaded ones'}
        </p>
      </div>
      {rows.length === 0 ? (
        <EmptyState title="No assignment matches this filter">Clear the filter or try another part of the path.</EmptyState>
      ) : (
        <Table data-testid="assignments-table">
          <THead>
            <TR>
              {header('file', 'File')}
              {header('labels', 'Labels')}
              {header('updated', 'Updated')}
              {header('by', 'By')}
            </TR>
          </THead>
          <TBody>
            {visible.map((r) => (
              <TR key={r.doc._id} data-testid="assignment-row" data-file-id={r.doc.file_id} className="cursor-pointer" onClick={() => setFileId(r.doc.file_id)}>
                <TD className="max-w-md">
                  <button
                    type="button"
                    className="grid text-left hover:underline focus-visible:outline-2 focus-visible:outline-ring"
                    onClick={(e) => {
                      e.stopPropagation()
                      setFileId(r.doc.file_id)
                    }}
                  >
                    {r.name ? (
                      <>
                        <span className="font-medium">{r.name}</span>
                        <span className="break-all font-mono text-xs text-muted-foreground">{r.path}</span>
                      </>
                    ) : r.missing ? (
                      <>
                        <span className="font-mono text-xs">{r.doc.file_id}</span>
                        <span className="text-xs text-muted-foreground">file no longer indexed</span>
                      </>
                    ) : (
                      <>
                        <span className="font-mono text-xs">{r.doc.file_id}</span>
                        {r.loading && <Skeleton className="mt-1 h-3 w-48" />}
                      </>
                    )}
                  </button>
                </TD>
                <TD>
                  <div className="flex flex-wrap gap-1">
                    {r.doc.labels.map((l) => (
                      <LabelChip key={l} label={l} />
                    ))}
                  </div>
                </TD>
                <TD className="whitespace-nowrap" title={humanDate(r.doc.updated_at)}>
                  {relativeTime(r.doc.updated_at)}
                </TD>
                <TD className="font-mono text-xs">{r.doc.updated_by || '—'}</TD>
              </TR>
            ))}
          </TBody>
        </Table>
      )}
      {pages > 1 && (
        <nav aria-label="Pages" className="flex items-center gap-2 text-sm">
          <Button variant="outline" size="sm" disabled={cur === 0} onClick={() => setPage(cur - 1)}>
            Previous
          </Button>
          <span>
            Page {cur + 1} of {pages}
          </span>
          <Button variant="outline" size="sm" disabled={cur >= pages - 1} onClick={() => setPage(cur + 1)}>
            Next
          </Button>
        </nav>
      )}
      <FileDrawer fileId={fileId} onClose={() => setFileId(null)} />
    </div>
  )
}

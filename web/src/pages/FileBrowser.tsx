// The file browser (/files/<virtual path>): the folder tree on the left, the
// folder's contents on the right (virtualised, sortable, filterable), live
// (refetched every 5 s while the tab is visible). Files open in the shared
// detail drawer; folders get a label rule through "Apply labels to folder".
import { useQuery, useQueryClient } from '@tanstack/react-query'
import { FolderX, Search, Tags } from 'lucide-react'
import { useCallback, useDeferredValue, useEffect, useId, useMemo, useState } from 'react'
import { Link, useNavigate, useParams, useSearchParams } from 'react-router-dom'
import { EmptyState, ErrorMessage } from '@/components/common'
import { DirTree } from '@/components/files/DirTree'
import { downloadFile } from '@/components/files/content'
import { FileDrawer } from '@/components/files/FileDrawer'
import { FileTable } from '@/components/files/FileTable'
import {
  applyLabelsUrl,
  breadcrumbs,
  deriveRuleTarget,
  dirUrl,
  filesUrl,
  filterEntries,
  nextSort,
  sampleEvenly,
  sortEntries,
  splatToPath,
  targetsFromMounts,
  type RuleTarget,
  type SortKey,
  type SortState,
} from '@/components/files/logic'
import { listingQuery, listingRefetchInterval } from '@/components/files/queries'
import type { FileDocument, VfsEntry } from '@/components/files/types'
import { Button } from '@/components/ui/button'
import { Input } from '@/components/ui/input'
import { Dialog, DialogClose, DialogContent } from '@/components/ui/sheet'
import { LoadingRows } from '@/components/ui/skeleton'
import { api, ApiError, encodeVirtualPath } from '@/lib/api'
import { nodeName, useNodes } from '@/lib/docs'
import { humanCount } from '@/lib/format'

/** Files whose real location is read to work out a folder's rule. */
const SAMPLE = 24

export default function FileBrowser() {
  const params = useParams()
  const path = splatToPath(params['*'])
  // A directory whose path is not UTF-8 comes with its exact bytes.
  const [search] = useSearchParams()
  const pathBytes = search.get('bytes')
  const navigate = useNavigate()
  const qc = useQueryClient()
  const nodes = useNodes()
  const filterId = useId()

  const listing = useQuery({
    ...listingQuery(path, pathBytes),
    refetchInterval: (q) => listingRefetchInterval(q.state.data?.entries.length),
    refetchIntervalInBackground: false,
  })

  const [sort, setSort] = useState<SortState>({ key: 'name', dir: 'asc' })
  const [filter, setFilter] = useState('')
  const deferredFilter = useDeferredValue(filter)
  const [drawer, setDrawer] = useState<{ id: string; virtualPath: string } | null>(null)
  const [applyState, setApplyState] = useState<
    { state: 'working'; folder: string } | { state: 'note'; folder: string; target: RuleTarget } | { state: 'error'; folder: string; error: unknown } | null
  >(null)

  useEffect(() => setFilter(''), [path])

  const nodeLabel = useCallback((id: string | undefined) => nodeName(nodes.data, id), [nodes.data])
  // The replica re-reads nodes on every replicated change (heartbeats): key
  // the sort on the names only, so a big listing is not re-sorted each time.
  const nodeNames = useMemo(() => JSON.stringify((nodes.data ?? []).map((n) => [n.node_id, n.friendly_name || n.node_id])), [nodes.data])
  const byNodeName = useMemo(() => {
    if (sort.key !== 'node') return undefined
    const m = new Map<string, string>(JSON.parse(nodeNames) as [string, string][])
    return (id: string | undefined) => (id ? (m.get(id) ?? id) : '')
  }, [sort.key, nodeNames])
  const entries = listing.data?.entries
  const sorted = useMemo(() => (entries ? sortEntries(entries, sort, byNodeName) : []), [entries, sort, byNodeName])
  const shown = useMemo(() => filterEntries(sorted, deferredFilter), [sorted, deferredFilter])

  const open = (e: VfsEntry) => {
    if (e.kind === 'directory' && e.virtual_path) navigate(dirUrl(e.virtual_path, e.virtual_path_bytes))
    else if (e.file_id) setDrawer({ id: e.file_id, virtualPath: `${path === '/' ? '' : path}/${e.name}` })
  }

  const [downloadError, setDownloadError] = useState<unknown>(null)
  const download = (e: VfsEntry) => {
    if (!e.file_id) return
    setDownloadError(null)
    downloadFile(e.file_id, e.name, e.size ?? 0).catch(setDownloadError)
  }

  /** Works out node + prefix for a folder's rule, then opens the Labels page's rule editor. */
  const applyLabels = async (folder: string) => {
    setApplyState({ state: 'working', folder })
    try {
      const l = await qc.fetchQuery({ ...listingQuery(folder), staleTime: 5000 })
      const files = l.entries.filter((e) => e.kind === 'file' && e.file_id)
      let located: { node_id: string; export_path: string }[]
      if (files.length > 0) {
        const docs = await Promise.all(
          sampleEvenly(files, SAMPLE).map((f) =>
            qc.fetchQuery({
              queryKey: ['file', f.file_id!],
              queryFn: ({ signal }) => api<FileDocument>(`/api/files/${encodeURIComponent(f.file_id!)}`, { signal }),
              staleTime: 10_000,
            }),
          ),
        )
        located = docs.map((d) => ({ node_id: d.source.node_id, export_path: d.source.export_path }))
      } else {
        located = targetsFromMounts(l.directory.mounts ?? [], l.directory.virtual_path, folder)
      }
      const target = deriveRuleTarget(located)
      if (!target) {
        throw new Error(
          'This folder has no files and no mounts, so there is no real directory to label. Add a mount to it in Virtual FS first.',
        )
      }
      if (target.note) setApplyState({ state: 'note', folder, target })
      else {
        setApplyState(null)
        navigate(applyLabelsUrl(target))
      }
    } catch (error) {
      setApplyState({ state: 'error', folder, error })
    }
  }

  const crumbs = breadcrumbs(path)
  const notFound = listing.error instanceof ApiError && listing.error.status === 404

  return (
    <div className="flex h-[calc(100dvh-8rem)] min-h-[26rem] flex-col gap-3 md:h-[calc(100dvh-6rem)]">
      <h1 className="sr-only">Files: {path}</h1>
      <nav aria-label="Breadcrumb" data-testid="breadcrumbs">
        <ol className="flex flex-wrap items-center gap-1 text-sm">
          {crumbs.map((c, i) => {
            const last = i === crumbs.length - 1
            return (
              <li key={c.path} className="flex items-center gap-1">
                {i > 0 && (
                  <span aria-hidden="true" className="text-muted-foreground">
                    /
                  </span>
                )}
                <Link
                  to={filesUrl(c.path)}
                  aria-current={last ? 'page' : undefined}
                  className={
                    last
                      ? 'rounded px-1 font-semibold text-foreground focus-visible:outline-2 focus-visible:outline-ring'
                      : 'rounded px-1 text-muted-foreground hover:text-foreground hover:underline focus-visible:outline-2 focus-visible:outline-ring'
                  }
                >
                  {c.name}
                </Link>
              </li>
            )
          })}
        </ol>
      </nav>

      <div className="flex min-h-0 flex-1 gap-4">
        <aside aria-label="Folder tree" className="hidden w-60 shrink-0 overflow-auto rounded-md border p-2 md:block">
          <DirTree current={path} onOpen={(p) => navigate(filesUrl(p))} />
        </aside>

        <section aria-label="Folder contents" className="flex min-w-0 flex-1 flex-col gap-3">
          <div className="flex flex-wrap items-center gap-2">
            <div className="relative w-full max-w-xs">
              <label htmlFor={filterId} className="sr-only">
                Filter this folder by name
              </label>
              <Search className="pointer-events-none absolute left-2.5 top-2.5 size-4 text-muted-foreground" aria-hidden="true" />
              <Input
                id={filterId}
                type="search"
                value={filter}
                onChange={(e) => setFilter(e.target.value)}
                placeholder="Filter by name"
                className="pl-8"
                data-testid="file-filter"
              />
            </div>
            <p className="text-sm text-muted-foreground" aria-live="polite" data-testid="file-count">
              {listing.data
                ? filter.trim()
                  ? `${humanCount(shown.length)} of ${humanCount(listing.data.total)} items`
                  : `${humanCount(listing.data.total)} items`
                : ''}
            </p>
            <Button
              variant="outline"
              size="sm"
              className="ml-auto"
              onClick={() => applyLabels(path)}
              disabled={path === '/' || applyState?.state === 'working' || !listing.data}
              title={path === '/' ? 'Open a folder first' : undefined}
              data-testid="apply-labels-folder"
            >
              <Tags />
              {applyState?.state === 'working' && applyState.folder === path ? 'Finding the folder…' : 'Apply labels to folder'}
            </Button>
          </div>

          {applyState?.state === 'error' && <ErrorMessage error={applyState.error} />}
          {applyState?.state === 'working' && applyState.folder !== path && (
            <p role="status" className="text-sm text-muted-foreground">
              Finding where {applyState.folder} lives…
            </p>
          )}
          {downloadError != null && <ErrorMessage error={downloadError} />}

          {listing.isPending ? (
            <LoadingRows rows={8} label="Loading folder" />
          ) : listing.isError && !listing.data ? (
            <div className="grid gap-3">
              <ErrorMessage error={listing.error} />
              {notFound && (
                <p className="text-sm">
                  <Link to="/files" className="text-primary underline">
                    Back to all files
                  </Link>
                </p>
              )}
            </div>
          ) : listing.data.entries.length === 0 ? (
            <EmptyState title="This folder is empty" icon={<FolderX className="size-8" />}>
              Files appear here when a mount maps a directory of one of your nodes into it. Mounts are configured in{' '}
              <Link to={path === '/' ? '/vfs' : `/vfs/${encodeVirtualPath(path)}`} className="text-primary underline">
                Virtual FS
              </Link>
              .
            </EmptyState>
          ) : (
            <>
              {listing.isError && <ErrorMessage error={listing.error} />}
              {shown.length === 0 ? (
                <EmptyState title="No names match" icon={<Search className="size-8" />}>
                  Nothing in this folder has “{deferredFilter.trim()}” in its name. Clear the filter, or search every node on the{' '}
                  <Link to={`/search?q=${encodeURIComponent(deferredFilter.trim())}`} className="text-primary underline">
                    Search page
                  </Link>
                  .
                </EmptyState>
              ) : (
                <FileTable
                  entries={shown}
                  total={listing.data.total}
                  sort={sort}
                  onSort={(k: SortKey) => setSort((s) => nextSort(s, k))}
                  onOpen={open}
                  onDetails={(e) => e.file_id && setDrawer({ id: e.file_id, virtualPath: `${path === '/' ? '' : path}/${e.name}` })}
                  onDownload={download}
                  onApplyLabels={(e) => applyLabels(e?.virtual_path ?? path)}
                  resetKey={path}
                />
              )}
            </>
          )}
        </section>
      </div>

      <FileDrawer fileId={drawer?.id ?? null} virtualPath={drawer?.virtualPath} onClose={() => setDrawer(null)} />

      <Dialog open={applyState?.state === 'note'} onOpenChange={(o) => !o && setApplyState(null)}>
        {applyState?.state === 'note' && (
          <DialogContent title="This folder spans several nodes" description={applyState.target.note}>
            <p className="text-sm">
              The rule will match files under <code className="font-mono text-xs">{applyState.target.path_prefix}</code> on node{' '}
              <code className="font-mono text-xs">{nodeLabel(applyState.target.node_id)}</code>. You can add a second rule for the other nodes.
            </p>
            <div className="flex justify-end gap-2">
              <DialogClose asChild>
                <Button variant="outline">Cancel</Button>
              </DialogClose>
              <Button
                onClick={() => {
                  const t = applyState.target
                  setApplyState(null)
                  navigate(applyLabelsUrl(t))
                }}
              >
                Continue to the rule editor
              </Button>
            </div>
          </DialogContent>
        )}
      </Dialog>
    </div>
  )
}

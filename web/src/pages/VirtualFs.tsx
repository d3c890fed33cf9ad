// The virtual filesystem: the tree of directory documents (from the replica)
// on the left; the selected directory's listing (GET /api/vfs) and its mounts
// on the right; directory create/delete and the mount editor.
import { useQuery } from '@tanstack/react-query'
import { FileText, Folder, FolderPlus, Pencil, Trash2 } from 'lucide-react'
import { useMemo, useState } from 'react'
import { Link, useNavigate, useParams } from 'react-router-dom'
import { EmptyState, ErrorMessage, NodeBadge, PageHeader } from '@/components/common'
import { FileDrawer } from '@/components/files/FileDrawer'
import { Button } from '@/components/ui/button'
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card'
import { LoadingRows } from '@/components/ui/skeleton'
import { Table, TBody, TD, TH, THead, TR } from '@/components/ui/table'
import { DeleteDirectoryDialog, NewDirectoryDialog } from '@/components/vfs/DirectoryDialogs'
import { DirTree } from '@/components/vfs/DirTree'
import { fetchListing, listingKey, type VfsEntry } from '@/components/vfs/api'
import { buildTree, describeStep, descendantCount, owningDirectory, parentOf, pathChain, splatToPath, vfsRoute } from '@/components/vfs/logic'
import { MountEditor } from '@/components/vfs/MountEditor'
import { useDirectories, type MountEntry, type VirtualDirectoryDoc } from '@/lib/docs'
import { humanCount, humanSize, relativeTime, humanDate } from '@/lib/format'

export default function VirtualFs() {
  const params = useParams()
  const path = splatToPath(params['*'])
  const navigate = useNavigate()
  const dirs = useDirectories()
  const all = useMemo(() => dirs.data ?? [], [dirs.data])
  const tree = useMemo(() => buildTree(all), [all])
  const doc = all.find((d) => d.virtual_path === path)
  const owner = doc ?? owningDirectory(all, path)
  const [dialog, setDialog] = useState<'new' | 'delete' | 'mounts' | null>(null)
  const [fileId, setFileId] = useState<string | null>(null)
  const [fileVPath, setFileVPath] = useState<string | undefined>()
  const go = (p: string) => navigate(vfsRoute(p))

  return (
    <div>
      <PageHeader
        title="Virtual filesystem"
        description="Directories of the shared namespace and the mounts that fill them with files from your nodes."
      />
      <div className="grid gap-4 md:grid-cols-[16rem_minmax(0,1fr)] lg:grid-cols-[18rem_minmax(0,1fr)]">
        <Card className="self-start">
          <CardHeader>
            <CardTitle>Directories</CardTitle>
            <CardDescription>Badges count mounts.</CardDescription>
          </CardHeader>
          <CardContent>
            {dirs.isPending ? (
              <LoadingRows rows={5} label="Loading directories" />
            ) : dirs.isError ? (
              <ErrorMessage error={dirs.error} />
            ) : !tree ? (
              <EmptyState title="No directories yet">The root directory appears once the server has started and the replica has caught up.</EmptyState>
            ) : (
              <DirTree root={tree} selected={doc ? path : (owner?.virtual_path ?? '/')} onSelect={go} />
            )}
          </CardContent>
        </Card>

        <div className="grid min-w-0 content-start gap-4">
          <Breadcrumbs path={path} />
          <div className="flex flex-wrap items-center gap-2">
            <h2 className="mr-auto break-all font-mono text-lg font-semibold" data-testid="vfs-current-path">
              {path}
            </h2>
            <Button variant="outline" onClick={() => setDialog('new')} disabled={!doc} data-testid="vfs-new-dir">
              <FolderPlus />
              New directory
            </Button>
            <Button onClick={() => setDialog('mounts')} disabled={!doc} data-testid="vfs-edit-mounts">
              <Pencil />
              Edit mounts
            </Button>
            <Button
              variant="outline"
              onClick={() => setDialog('delete')}
              disabled={!doc || doc.system || path === '/'}
              title={doc?.system || path === '/' ? 'The root and system directories cannot be deleted' : undefined}
              data-testid="vfs-delete-dir"
            >
              <Trash2 />
              Delete
            </Button>
          </div>
          {!doc && owner && !dirs.isPending && (
            <p className="text-sm text-muted-foreground" data-testid="vfs-synthesized-note">
              This folder has no directory document of its own: it is made by the mounts of{' '}
              <Link className="font-mono text-primary underline" to={vfsRoute(owner.virtual_path)}>
                {owner.virtual_path}
              </Link>
              . Edit them there.
            </p>
          )}
          {doc && <MountSummary doc={doc} onEdit={() => setDialog('mounts')} />}
          <ListingCard
            path={path}
            revs={all.map((d) => (d as { _rev?: string })._rev ?? d._id).join()}
            onOpenDir={go}
            onOpenFile={(e) => {
              setFileId(e.file_id ?? null)
              setFileVPath(path === '/' ? `/${e.name}` : `${path}/${e.name}`)
            }}
          />
        </div>
      </div>

      {doc && (
        <>
          <NewDirectoryDialog
            parent={path}
            open={dialog === 'new'}
            onOpenChange={(o) => setDialog(o ? 'new' : null)}
            onCreated={(p) => {
              setDialog(null)
              go(p)
            }}
          />
          <DeleteDirectoryDialog
            path={path}
            descendants={descendantCount(all, path)}
            open={dialog === 'delete'}
            onOpenChange={(o) => setDialog(o ? 'delete' : null)}
            onDeleted={() => {
              setDialog(null)
              go(parentOf(path))
            }}
          />
          <MountEditor dir={doc} dirs={all} open={dialog === 'mounts'} onClose={() => setDialog(null)} />
        </>
      )}
      <FileDrawer fileId={fileId} onClose={() => setFileId(null)} virtualPath={fileVPath} />
    </div>
  )
}

function Breadcrumbs({ path }: { path: string }) {
  const chain = pathChain(path)
  return (
    <nav aria-label="Breadcrumb" className="text-sm">
      <ol className="flex flex-wrap items-center gap-1 text-muted-foreground">
        {chain.map((p, i) => (
          <li key={p} className="flex items-center gap-1">
            {i > 0 && <span aria-hidden="true">/</span>}
            {i === chain.length - 1 ? (
              <span aria-current="page" className="text-foreground">
                {p === '/' ? 'root' : p.slice(p.lastIndexOf('/') + 1)}
              </span>
            ) : (
              <Link to={vfsRoute(p)} className="hover:text-foreground hover:underline">
                {p === '/' ? 'root' : p.slice(p.lastIndexOf('/') + 1)}
              </Link>
            )}
          </li>
        ))}
      </ol>
    </nav>
  )
}

function MountSummary({ doc, onEdit }: { doc: VirtualDirectoryDoc; onEdit: () => void }) {
  return (
    <Card data-testid="vfs-mounts-summary">
      <CardHeader>
        <CardTitle>
          {doc.mounts.length} {doc.mounts.length === 1 ? 'mount' : 'mounts'}
          {doc.enforce_steps_on_children && <span className="ml-2 text-xs font-normal text-muted-foreground">· steps enforced on all descendants</span>}
        </CardTitle>
        {doc.updated_at && <CardDescription>Changed {relativeTime(doc.updated_at)}</CardDescription>}
      </CardHeader>
      <CardContent>
        {doc.mounts.length === 0 ? (
          <div className="flex flex-wrap items-center gap-3 text-sm text-muted-foreground">
            No mounts: only child directories are listed here.
            <Button size="sm" variant="outline" onClick={onEdit}>
              Add a mount
            </Button>
          </div>
        ) : (
          <ul className="grid gap-2">
            {doc.mounts.map((m, i) => (
              <MountLine key={m.mount_id ?? i} m={m} />
            ))}
          </ul>
        )}
      </CardContent>
    </Card>
  )
}

function MountLine({ m }: { m: MountEntry }) {
  return (
    <li className="grid gap-1 rounded-md border p-2 text-sm" data-testid="vfs-mount-line">
      <div className="flex flex-wrap items-center gap-2">
        {m.source.node_id === '*' ? <span className="rounded-full border px-2 py-0.5 text-xs">every node</span> : <NodeBadge nodeId={m.source.node_id} />}
        <span className="break-all font-mono text-xs">{m.source.export_path}</span>
        <span className="text-xs text-muted-foreground">
          {m.strategy}
          {m.strategy === 'prefix_replace' && m.source_prefix && m.source_prefix !== m.source.export_path ? ` (strip ${m.source_prefix})` : ''} · default {m.default_result ?? 'include'}
          {m.conflict_policy === 'suffix_node_id' ? ' · suffix node on collision' : ''}
        </span>
      </div>
      {m.steps.length > 0 && (
        <ol className="ml-4 list-decimal text-xs text-muted-foreground">
          {m.steps.map((s, j) => (
            <li key={j} className="font-mono">
              {describeStep(s)}
            </li>
          ))}
        </ol>
      )}
    </li>
  )
}

function ListingCard({
  path,
  revs,
  onOpenDir,
  onOpenFile,
}: {
  path: string
  revs: string
  onOpenDir: (p: string) => void
  onOpenFile: (e: VfsEntry) => void
}) {
  // The directory revisions are part of the key: a replicated change to any
  // directory (its mounts, an ancestor's steps) lists again.
  const listing = useQuery({
    queryKey: [...listingKey(path), revs],
    queryFn: ({ signal }) => fetchListing(path, signal),
    placeholderData: (prev, prevQuery) => (prevQuery?.queryKey[2] === path ? prev : undefined),
  })
  return (
    <Card>
      <CardHeader>
        <CardTitle>Contents</CardTitle>
        <CardDescription>
          {listing.data ? `${humanCount(listing.data.total)} ${listing.data.total === 1 ? 'entry' : 'entries'}, as the mounts and steps evaluate now` : 'As the mounts and steps evaluate now'}
        </CardDescription>
      </CardHeader>
      <CardContent>
        {listing.isPending ? (
          <LoadingRows rows={6} label="Loading the listing" />
        ) : listing.isError ? (
          <ErrorMessage error={listing.error} />
        ) : listing.data.entries.length === 0 ? (
          <EmptyState title="This directory is empty">Add a mount (Edit mounts) to list files from a node, or create a directory inside it.</EmptyState>
        ) : (
          <Table data-testid="vfs-listing">
            <THead>
              <TR>
                <TH scope="col">Name</TH>
                <TH scope="col">Size</TH>
                <TH scope="col">Modified</TH>
                <TH scope="col">Node</TH>
              </TR>
            </THead>
            <TBody>
              {listing.data.entries.map((e) => (
                <TR key={`${e.kind}:${e.name}`} data-testid="vfs-entry" data-kind={e.kind} data-name={e.name}>
                  <TD>
                    {e.kind === 'directory' ? (
                      <button type="button" className="flex items-center gap-2 text-left hover:underline focus-visible:outline-2 focus-visible:outline-ring" onClick={() => onOpenDir(e.virtual_path ?? (path === '/' ? `/${e.name}` : `${path}/${e.name}`))}>
                        <Folder className="size-4 shrink-0 text-muted-foreground" aria-hidden="true" />
                        <span className="break-all">{e.name}</span>
                        {e.synthesized && <span className="text-xs text-muted-foreground">(from a mount)</span>}
                      </button>
                    ) : (
                      <button type="button" className="flex items-center gap-2 text-left hover:underline focus-visible:outline-2 focus-visible:outline-ring" onClick={() => onOpenFile(e)} disabled={!e.file_id}>
                        <FileText className="size-4 shrink-0 text-muted-foreground" aria-hidden="true" />
                        <span className="break-all">{e.name}</span>
                      </button>
                    )}
                  </TD>
                  <TD className="whitespace-nowrap">{e.kind === 'file' ? humanSize(e.size) : '—'}</TD>
                  <TD className="whitespace-nowrap" title={humanDate(e.mtime)}>
                    {e.mtime ? relativeTime(e.mtime) : '—'}
                  </TD>
                  <TD>{e.node_id ? <NodeBadge nodeId={e.node_id} /> : '—'}</TD>
                </TR>
              ))}
            </TBody>
          </Table>
        )}
      </CardContent>
    </Card>
  )
}

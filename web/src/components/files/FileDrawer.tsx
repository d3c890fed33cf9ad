// The file detail drawer, shared by the file browser, search and labels
// pages: metadata, effective labels (direct ones editable), download, and an
// inline preview chosen by MIME type.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { Download, Plus } from 'lucide-react'
import { useEffect, useId, useRef, useState, type FormEvent } from 'react'
import { EmptyState, ErrorMessage, LabelChip, NodeBadge } from '@/components/common'
import { Button } from '@/components/ui/button'
import { Input } from '@/components/ui/input'
import { Field } from '@/components/ui/label'
import { Dialog, SheetContent } from '@/components/ui/sheet'
import { LoadingRows, Skeleton } from '@/components/ui/skeleton'
import { api, ApiError } from '@/lib/api'
import { useLabelRules } from '@/lib/docs'
import { humanDate, humanSize, relativeTime } from '@/lib/format'
import { downloadFile, fetchTextHead, resolveContentUrl, type Resolved } from './content'
import { previewKind, TEXT_PREVIEW_BYTES, type PreviewKind } from './logic'
import type { EffectiveLabels, FileDocument } from './types'

export const fileQueryKey = (id: string) => ['file', id] as const
export const effectiveQueryKey = (id: string) => ['labels', 'effective', id] as const

export function useFileDocument(fileId: string | null) {
  return useQuery({
    queryKey: fileQueryKey(fileId ?? ''),
    queryFn: ({ signal }) => api<FileDocument>(`/api/files/${encodeURIComponent(fileId!)}`, { signal }),
    enabled: !!fileId,
    staleTime: 10_000,
  })
}

export function FileDrawer({
  fileId,
  onClose,
  virtualPath,
}: {
  fileId: string | null
  onClose: () => void
  /** Where the file was opened from in the virtual namespace, when known. */
  virtualPath?: string
}) {
  const file = useFileDocument(fileId)
  // Give focus back to what opened the drawer (a row, a result) on close.
  const returnTo = useRef<HTMLElement | null>(null)
  const wasOpen = useRef(false)
  if (fileId !== null && !wasOpen.current && typeof document !== 'undefined') returnTo.current = document.activeElement as HTMLElement | null
  wasOpen.current = fileId !== null
  const title = file.data?.name ?? (file.isError ? 'File' : 'File details')
  return (
    <Dialog open={fileId !== null} onOpenChange={(open) => !open && onClose()}>
      {fileId !== null && (
        <SheetContent
          title={title}
          description="File details, labels and preview"
          data-testid="file-drawer"
          data-file-id={fileId}
          onCloseAutoFocus={(e) => {
            const el = returnTo.current
            if (el && el.isConnected) {
              e.preventDefault()
              el.focus()
            }
          }}
        >
          {file.isPending ? (
            <LoadingRows rows={6} label="Loading file details" />
          ) : file.isError ? (
            <ErrorMessage error={file.error} />
          ) : (
            <DrawerBody file={file.data} virtualPath={virtualPath} />
          )}
        </SheetContent>
      )}
    </Dialog>
  )
}

function DrawerBody({ file, virtualPath }: { file: FileDocument; virtualPath?: string }) {
  const deleted = file.status !== 'active'
  return (
    <div className="grid gap-5">
      <DownloadButton file={file} disabled={deleted} />
      <dl className="grid grid-cols-[max-content_1fr] gap-x-4 gap-y-2 text-sm">
        <dt className="text-muted-foreground">Node</dt>
        <dd>
          <NodeBadge nodeId={file.source.node_id} />
        </dd>
        <dt className="text-muted-foreground">Path on node</dt>
        <dd className="break-all font-mono text-xs" data-testid="file-export-path">
          {file.source.export_path}
        </dd>
        {virtualPath && (
          <>
            <dt className="text-muted-foreground">Virtual path</dt>
            <dd className="break-all font-mono text-xs">{virtualPath}</dd>
          </>
        )}
        <dt className="text-muted-foreground">Size</dt>
        <dd title={`${file.size.toLocaleString('en-US')} bytes`}>{humanSize(file.size)}</dd>
        <dt className="text-muted-foreground">Modified</dt>
        <dd>
          {humanDate(file.mtime)} <span className="text-muted-foreground">({relativeTime(file.mtime)})</span>
        </dd>
        <dt className="text-muted-foreground">Type</dt>
        <dd>{file.mime_type || 'unknown'}</dd>
        {deleted && (
          <>
            <dt className="text-muted-foreground">Status</dt>
            <dd className="text-destructive">deleted from its node{file.deleted_at ? ` ${relativeTime(file.deleted_at)}` : ''}</dd>
          </>
        )}
      </dl>
      <LabelsSection fileId={file._id} />
      <section aria-labelledby="file-preview-heading" className="grid gap-2">
        <h3 id="file-preview-heading" className="text-sm font-semibold">
          Preview
        </h3>
        {deleted ? (
          <p className="text-sm text-muted-foreground">The file was deleted from its node; there is nothing to preview.</p>
        ) : (
          <Preview file={file} />
        )}
      </section>
    </div>
  )
}

function DownloadButton({ file, disabled }: { file: FileDocument; disabled: boolean }) {
  const m = useMutation({ mutationFn: () => downloadFile(file._id, file.name, file.size) })
  return (
    <div className="grid gap-2">
      <div>
        <Button onClick={() => m.mutate()} disabled={disabled || m.isPending} data-testid="file-download">
          <Download />
          {m.isPending ? 'Preparing download…' : `Download (${humanSize(file.size)})`}
        </Button>
      </div>
      {m.isError && <ErrorMessage error={m.error} />}
    </div>
  )
}

// ---------------------------------------------------------------------------
// Labels

function LabelsSection({ fileId }: { fileId: string }) {
  const qc = useQueryClient()
  const inputId = useId()
  const [text, setText] = useState('')
  const effective = useQuery({
    queryKey: effectiveQueryKey(fileId),
    queryFn: ({ signal }) => api<EffectiveLabels>('/api/labels/effective', { query: { file_id: fileId }, signal }),
  })
  const rules = useLabelRules()
  const ruleName = (id: string, fallback: string) => rules.data?.find((r) => r._id === id)?.name || fallback || id

  const save = useMutation({
    mutationFn: async (labels: string[]) => {
      const path = `/api/labels/assignments/${encodeURIComponent(fileId)}`
      if (labels.length === 0) {
        try {
          await api(path, { method: 'DELETE' })
        } catch (e) {
          // Already without an assignment: the wanted state.
          if (!(e instanceof ApiError && e.status === 404)) throw e
        }
      } else {
        await api(path, { method: 'PUT', body: { labels } })
      }
      return labels
    },
    onSuccess: (labels) => {
      // Show the new direct labels at once; the refetch brings the rest.
      qc.setQueryData<EffectiveLabels>(effectiveQueryKey(fileId), (old) =>
        old ? { ...old, direct: [...labels].sort(), labels: [...new Set([...labels, ...old.inherited.map((i) => i.label)])].sort() } : old,
      )
      // Every label query (this file's effective labels, the label list).
      qc.invalidateQueries({ queryKey: ['labels'] })
      qc.invalidateQueries({ queryKey: ['search'] })
    },
  })

  const direct = effective.data?.direct ?? []
  const inherited = effective.data?.inherited ?? []
  const err = save.error instanceof ApiError ? save.error : null
  // A 400 naming `labels[i]` or `labels` belongs next to the input.
  const fieldError = err && err.status === 400 && err.field?.startsWith('labels') ? err.detail : null

  const add = (e?: FormEvent) => {
    e?.preventDefault()
    const l = text.trim()
    if (!l || save.isPending) return
    if (direct.includes(l)) {
      setText('')
      return
    }
    save.mutate([...direct, l], { onSuccess: () => setText('') })
  }

  return (
    <section aria-labelledby="file-labels-heading" className="grid gap-3">
      <h3 id="file-labels-heading" className="text-sm font-semibold">
        Labels
      </h3>
      {effective.isPending ? (
        <Skeleton className="h-6 w-48" />
      ) : effective.isError ? (
        <ErrorMessage error={effective.error} />
      ) : direct.length === 0 && inherited.length === 0 ? (
        <p className="text-sm text-muted-foreground">No labels yet. Add one below, or apply labels to a whole folder with a rule.</p>
      ) : (
        <div className="flex flex-wrap gap-1.5" data-testid="file-labels">
          {direct.map((l) => (
            <LabelChip
              key={`d:${l}`}
              label={l}
              onRemove={save.isPending ? undefined : () => save.mutate(direct.filter((x) => x !== l))}
            />
          ))}
          {inherited.map((i) => (
            <LabelChip key={`i:${i.rule_id}:${i.label}`} label={i.label} inherited via={ruleName(i.rule_id, i.rule_name)} />
          ))}
        </div>
      )}
      {inherited.length > 0 && (
        <p className="text-xs text-muted-foreground">
          Outlined labels come from rules ({[...new Set(inherited.map((i) => ruleName(i.rule_id, i.rule_name)))].join(', ')}); edit them on the
          Labels page.
        </p>
      )}
      <form onSubmit={add} className="grid gap-2">
        <Field id={inputId} label="Add a label" error={fieldError}>
          <div className="flex gap-2">
            <Input
              id={inputId}
              value={text}
              onChange={(e) => {
                setText(e.target.value)
                if (save.isError) save.reset()
              }}
              placeholder="e.g. taxes-2026"
              maxLength={100}
              className="min-w-0 flex-1"
              aria-invalid={fieldError ? true : undefined}
              aria-describedby={fieldError ? `${inputId}-error` : undefined}
              data-testid="label-input"
            />
            <Button type="submit" variant="secondary" disabled={!text.trim() || save.isPending} data-testid="label-add">
              <Plus />
              Add
            </Button>
          </div>
        </Field>
        {save.isError && !fieldError && <ErrorMessage error={save.error} />}
      </form>
    </section>
  )
}

// ---------------------------------------------------------------------------
// Preview

function Preview({ file }: { file: FileDocument }) {
  const kind = previewKind(file.mime_type, file.name)
  if (kind === 'none') {
    return (
      <div data-testid="file-preview" data-kind="none">
        <EmptyState title="No preview for this type">
          {file.mime_type ? `Files of type ${file.mime_type} cannot be shown here.` : 'The file type is unknown.'} Download it to open it.
        </EmptyState>
      </div>
    )
  }
  if (kind === 'text') return <TextPreview file={file} />
  return <MediaPreview file={file} kind={kind} />
}

function TextPreview({ file }: { file: FileDocument }) {
  const q = useQuery({
    queryKey: ['file-text', file._id, file.mtime, file.size],
    queryFn: ({ signal }) => fetchTextHead(file._id, file.size, signal),
    staleTime: 60_000,
    retry: false,
  })
  return (
    <div data-testid="file-preview" data-kind="text" className="grid gap-2">
      {q.isPending ? (
        <LoadingRows rows={4} label="Loading preview" />
      ) : q.isError ? (
        <ErrorMessage error={q.error} />
      ) : q.data.text === '' ? (
        <p className="text-sm text-muted-foreground">The file is empty.</p>
      ) : (
        <>
          <pre
            tabIndex={0}
            aria-label={`Contents of ${file.name}`}
            className="max-h-[28rem] overflow-auto whitespace-pre-wrap break-words rounded-md border bg-muted p-3 font-mono text-xs focus-visible:outline-2 focus-visible:outline-ring"
          >
            {q.data.text}
          </pre>
          {q.data.truncated && (
            <p className="text-xs text-muted-foreground" data-testid="preview-truncated">
              Showing the first {humanSize(TEXT_PREVIEW_BYTES)} of {humanSize(file.size)}. Download the file to see all of it.
            </p>
          )}
        </>
      )}
    </div>
  )
}

function MediaPreview({ file, kind }: { file: FileDocument; kind: Exclude<PreviewKind, 'text' | 'none'> }) {
  const [state, setState] = useState<{ r: Resolved | null; error: unknown; key: string }>({ r: null, error: null, key: '' })
  const key = `${file._id}:${file.mtime}`
  useEffect(() => {
    const ctl = new AbortController()
    let resolved: Resolved | null = null
    resolveContentUrl(file._id, 'inline', file.size, ctl.signal).then(
      (r) => {
        if (ctl.signal.aborted) return r.release()
        resolved = r
        setState({ r, error: null, key })
      },
      (error) => {
        if (!ctl.signal.aborted) setState({ r: null, error, key })
      },
    )
    return () => {
      ctl.abort()
      resolved?.release()
    }
  }, [file._id, file.size, key])
  const current = state.key === key ? state : { r: null, error: null }
  return (
    <div data-testid="file-preview" data-kind={kind}>
      {current.error ? (
        <ErrorMessage error={current.error} />
      ) : !current.r ? (
        <Skeleton className="h-64 w-full" />
      ) : kind === 'image' ? (
        <img src={current.r.url} alt={`Preview of ${file.name}`} className="max-h-[28rem] max-w-full rounded-md border object-contain" />
      ) : kind === 'pdf' ? (
        <iframe src={current.r.url} title={`PDF preview of ${file.name}`} className="h-[32rem] w-full rounded-md border bg-white" />
      ) : kind === 'video' ? (
        <video src={current.r.url} controls preload="metadata" aria-label={`Video ${file.name}`} className="max-h-[28rem] w-full rounded-md border bg-black" />
      ) : (
        <audio src={current.r.url} controls preload="metadata" aria-label={`Audio ${file.name}`} className="w-full" />
      )}
    </div>
  )
}

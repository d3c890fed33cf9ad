// The mount editor drawer: enforce_steps_on_children, the mounts and their
// step pipelines, the inherited ancestor steps (read-only), and a live
// preview of the draft (POST …/preview, debounced 500 ms). A 400 from the
// preview or the save is shown under the input it names; nothing is saved
// while the draft is invalid.
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { FileText, Folder, Plus } from 'lucide-react'
import { useMemo, useState } from 'react'
import { ErrorMessage, NodeBadge } from '@/components/common'
import { useDebounced } from '@/components/labels/useDebounced'
import { Button } from '@/components/ui/button'
import { Label } from '@/components/ui/label'
import { Dialog, SheetContent } from '@/components/ui/sheet'
import { Skeleton } from '@/components/ui/skeleton'
import { Switch } from '@/components/ui/switch'
import { api, ApiError } from '@/lib/api'
import { useLabelAssignments, useLabelRules, useNodes, type VirtualDirectoryDoc } from '@/lib/docs'
import { humanCount, humanSize } from '@/lib/format'
import { FieldError } from './controls'
import { MountCard } from './MountCard'
import { directoryUrl, previewDraft } from './api'
import {
  describeStep,
  directoryToDraft,
  draftToBody,
  emptyMount,
  fieldDomId,
  inheritedSteps,
  knownFields,
  move,
  resolveField,
  type DirectoryDraft,
  type MountDraft,
} from './logic'

const PREVIEW_ENTRIES = 25

export function MountEditor({
  dir,
  dirs,
  open,
  onClose,
}: {
  dir: VirtualDirectoryDoc
  dirs: VirtualDirectoryDoc[]
  open: boolean
  onClose: () => void
}) {
  return (
    <Dialog open={open} onOpenChange={(o) => !o && onClose()}>
      {open && (
        <SheetContent
          title={`Mounts of ${dir.virtual_path}`}
          description="Where this directory's files come from, and the steps that filter them."
          className="w-[min(76rem,100vw)]"
          data-testid="mount-editor"
        >
          <EditorBody key={dir._id} dir={dir} dirs={dirs} onClose={onClose} />
        </SheetContent>
      )}
    </Dialog>
  )
}

function EditorBody({ dir, dirs, onClose }: { dir: VirtualDirectoryDoc; dirs: VirtualDirectoryDoc[]; onClose: () => void }) {
  const path = dir.virtual_path
  const qc = useQueryClient()
  const nodes = useNodes().data ?? []
  const assignments = useLabelAssignments().data
  const rules = useLabelRules().data
  const labels = useMemo(() => {
    const s = new Set<string>()
    for (const a of assignments ?? []) a.labels.forEach((l) => s.add(l))
    for (const r of rules ?? []) r.labels.forEach((l) => s.add(l))
    return [...s].sort()
  }, [assignments, rules])
  const [draft, setDraft] = useState<DirectoryDraft>(() => directoryToDraft(dir))
  const body = useMemo(() => draftToBody(draft), [draft])
  const bodyJson = useMemo(() => JSON.stringify(body), [body])
  const debounced = useDebounced(bodyJson, 500)
  const inherited = useMemo(() => inheritedSteps(dirs, path), [dirs, path])

  const preview = useQuery({
    queryKey: ['vfs', 'preview', path, debounced],
    queryFn: ({ signal }) => previewDraft(path, JSON.parse(debounced), signal),
    retry: false,
    staleTime: 30_000,
    placeholderData: keepPreviousData,
  })

  const [saveError, setSaveError] = useState<{ json: string; error: unknown } | null>(null)
  const save = useMutation({
    mutationFn: (json: string) => api<VirtualDirectoryDoc>(directoryUrl(path), { method: 'PATCH', body: JSON.parse(json) }),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['vfs'] })
      onClose()
    },
    onError: (error, json) => setSaveError({ json, error }),
  })

  // The error that applies to the draft as it is now: the save's, else the
  // preview's (only once the preview has evaluated this very draft).
  const previewCurrent = debounced === bodyJson && !preview.isPlaceholderData
  const error: unknown =
    saveError && saveError.json === bodyJson ? saveError.error : previewCurrent && preview.isError ? preview.error : null
  const invalid = error instanceof ApiError && error.status === 400
  const known = useMemo(() => knownFields(draft), [draft])
  const errorField = error instanceof ApiError ? resolveField(error.field, known) : null
  const errorFor = (f: string) => (errorField === f && error instanceof ApiError ? error.detail : null)
  const topError = error && !errorField ? error : null

  const setMounts = (mounts: MountDraft[]) => setDraft((d) => ({ ...d, mounts }))
  const addMount = () => setMounts([...draft.mounts, emptyMount()])

  return (
    <div className="grid gap-5 lg:grid-cols-[minmax(0,1fr)_20rem]">
      <form
        className="grid content-start gap-5"
        onSubmit={(e) => {
          e.preventDefault()
          if (!invalid) save.mutate(bodyJson)
        }}
        aria-label="Mount editor"
      >
        <div className="flex items-start gap-3 rounded-md border p-3">
          <Switch
            id="vfs-enforce"
            checked={draft.enforce_steps_on_children}
            onCheckedChange={(v) => setDraft((d) => ({ ...d, enforce_steps_on_children: v }))}
            data-testid="enforce-steps"
            aria-describedby="vfs-enforce-hint"
          />
          <div className="grid gap-1">
            <Label htmlFor="vfs-enforce">Enforce this directory's steps on all descendants</Label>
            <p id="vfs-enforce-hint" className="text-xs text-muted-foreground">
              The steps of every mount here run before the steps of every directory below, so an exclusion here cannot be overridden there.
            </p>
          </div>
        </div>

        <section aria-labelledby="inherited-heading" className="grid gap-2" data-testid="inherited-steps">
          <h3 id="inherited-heading" className="text-sm font-semibold">
            Inherited steps
          </h3>
          {inherited.length === 0 ? (
            <p className="text-xs text-muted-foreground">None: no ancestor enforces its steps on its children.</p>
          ) : (
            <ol className="grid gap-1">
              {inherited.map((s, k) => (
                <li key={k} className="flex flex-wrap items-center gap-2 rounded-md border border-dashed bg-muted/40 px-3 py-2 text-xs" data-testid="inherited-step">
                  <span className="font-mono">{describeStep(s.step)}</span>
                  <span className="ml-auto text-muted-foreground">
                    from <span className="font-mono">{s.from}</span>, mount {s.mountIndex + 1}, step {s.stepIndex + 1}
                  </span>
                </li>
              ))}
            </ol>
          )}
          {inherited.length > 0 && <p className="text-xs text-muted-foreground">They run first, in this order, for every mount below; edit them in their own directory.</p>}
        </section>

        <section aria-labelledby="mounts-heading" className="grid gap-3">
          <h3 id="mounts-heading" className="text-sm font-semibold">
            Mounts
          </h3>
          <FieldError field="mounts" message={errorFor('mounts')} />
          {draft.mounts.length === 0 && (
            <p className="rounded-md border border-dashed p-4 text-sm text-muted-foreground">
              No mounts: this directory shows only its child directories. Add a mount to list files from a node.
            </p>
          )}
          {draft.mounts.map((m, i) => (
            <MountCard
              key={m.uid}
              index={i}
              count={draft.mounts.length}
              mount={m}
              onChange={(nm) => setMounts(draft.mounts.map((x, k) => (k === i ? nm : x)))}
              onRemove={() => setMounts(draft.mounts.filter((_, k) => k !== i))}
              onMove={(d) => setMounts(move(draft.mounts, i, d))}
              errorFor={errorFor}
              nodes={nodes}
              labels={labels}
            />
          ))}
          <div>
            <Button type="button" variant="outline" onClick={addMount} data-testid="add-mount">
              <Plus />
              Add mount
            </Button>
          </div>
        </section>

        {topError != null && <ErrorMessage error={topError} />}
        <div className="sticky -bottom-5 z-10 -mx-5 flex items-center gap-2 border-t bg-popover px-5 py-3">
          <Button type="submit" disabled={invalid || save.isPending} data-testid="mount-save">
            {save.isPending ? 'Saving…' : 'Save'}
          </Button>
          <Button type="button" variant="outline" onClick={onClose}>
            Cancel
          </Button>
          {invalid && errorField && (
            <a href={`#${fieldDomId(errorField)}`} className="text-xs text-destructive underline" onClick={(e) => {
              e.preventDefault()
              document.getElementById(fieldDomId(errorField))?.focus()
            }}>
              Fix the highlighted field to save
            </a>
          )}
        </div>
      </form>

      <aside aria-labelledby="preview-heading" className="grid content-start gap-2 lg:sticky lg:top-0 lg:max-h-[calc(100vh-6rem)] lg:overflow-y-auto">
        <h3 id="preview-heading" className="text-sm font-semibold">
          Preview
        </h3>
        <PreviewPanel
          loading={preview.isPending || (preview.isFetching && !previewCurrent) || debounced !== bodyJson}
          data={preview.isError ? undefined : preview.data}
          error={previewCurrent && preview.isError ? preview.error : null}
          fieldError={!!errorField}
        />
      </aside>
    </div>
  )
}

function PreviewPanel({
  loading,
  data,
  error,
  fieldError,
}: {
  loading: boolean
  data?: { total: number; entries: { name: string; kind: string; size?: number; node_id?: string; synthesized?: boolean }[] }
  error: unknown
  fieldError: boolean
}) {
  if (error) {
    return (
      <div className="grid gap-2" aria-live="polite">
        <p className="text-sm" data-testid="preview-count" data-state="invalid">
          The draft is not valid{fieldError ? '; the field at fault is highlighted.' : '.'}
        </p>
        <ErrorMessage error={error} />
      </div>
    )
  }
  if (!data) {
    return (
      <div role="status" aria-label="Evaluating the draft" className="grid gap-2">
        <Skeleton className="h-5 w-32" />
        <Skeleton className="h-24 w-full" />
      </div>
    )
  }
  return (
    <div className="grid gap-2" aria-live="polite" aria-busy={loading}>
      <p className="text-sm" data-testid="preview-count" data-count={data.total} data-state={loading ? 'stale' : 'current'}>
        <span className="text-lg font-semibold">{humanCount(data.total)}</span> {data.total === 1 ? 'entry' : 'entries'}
        {loading && <span className="ml-2 text-xs text-muted-foreground">updating…</span>}
      </p>
      {data.entries.length === 0 ? (
        <p className="text-xs text-muted-foreground">Nothing would be listed. Check the export paths and steps.</p>
      ) : (
        <ul className="grid gap-1 text-xs" aria-label="First entries">
          {data.entries.slice(0, PREVIEW_ENTRIES).map((e) => (
            <li key={`${e.kind}:${e.name}`} className="flex items-center gap-2" data-testid="preview-entry">
              {e.kind === 'directory' ? <Folder className="size-3.5 shrink-0 text-muted-foreground" aria-label="directory" /> : <FileText className="size-3.5 shrink-0 text-muted-foreground" aria-label="file" />}
              <span className="truncate" title={e.name}>
                {e.name}
              </span>
              {e.kind === 'file' && <span className="ml-auto shrink-0 text-muted-foreground">{humanSize(e.size)}</span>}
              {e.node_id && <NodeBadge nodeId={e.node_id} className="shrink-0" />}
            </li>
          ))}
        </ul>
      )}
      {data.entries.length > PREVIEW_ENTRIES && (
        <p className="text-xs text-muted-foreground">and {humanCount(data.total - PREVIEW_ENTRIES)} more.</p>
      )}
    </div>
  )
}

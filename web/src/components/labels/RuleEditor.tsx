// The label rule editor drawer: name, node, path prefix, labels, enabled; a
// live count of the files the rule would cover (debounced 500 ms); save
// (POST or PATCH) and delete with a confirmation.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useMemo, useState } from 'react'
import { ErrorMessage } from '@/components/common'
import { Button } from '@/components/ui/button'
import { Input } from '@/components/ui/input'
import { Field, Label } from '@/components/ui/label'
import { Dialog, DialogContent, SheetContent } from '@/components/ui/sheet'
import { Skeleton } from '@/components/ui/skeleton'
import { Switch } from '@/components/ui/switch'
import { api, ApiError } from '@/lib/api'
import { useLabelAssignments, useLabelRules, useNodes, type LabelRuleDoc } from '@/lib/docs'
import { humanCount } from '@/lib/format'
import { Select } from '@/components/vfs/controls'
import { ChipsInput } from './ChipsInput'
import { countRuleFiles, emptyRule, ruleBody, ruleField, ruleToDraft, suggestRuleName, type FileItem, type RuleDraft } from './logic'
import { useDebounced } from './useDebounced'

/** Pages of 1000 files scanned for the preview count at most (there is no count endpoint). */
const MAX_PREVIEW_PAGES = 10

export type EditorTarget = { kind: 'new'; node_id?: string; path_prefix?: string } | { kind: 'edit'; rule: LabelRuleDoc }

export function RuleEditor({ target, onClose }: { target: EditorTarget | null; onClose: () => void }) {
  return (
    <Dialog open={target !== null} onOpenChange={(o) => !o && onClose()}>
      {target && (
        <SheetContent
          title={target.kind === 'new' ? 'New label rule' : `Rule “${target.rule.name}”`}
          description="Every file on the node whose path starts with the prefix gets these labels."
          data-testid="rule-editor"
        >
          <RuleForm key={target.kind === 'edit' ? target.rule._id : 'new'} target={target} onClose={onClose} />
        </SheetContent>
      )}
    </Dialog>
  )
}

function RuleForm({ target, onClose }: { target: EditorTarget; onClose: () => void }) {
  const qc = useQueryClient()
  const nodes = useNodes().data ?? []
  const assignments = useLabelAssignments().data
  const rules = useLabelRules().data
  const rule = target.kind === 'edit' ? target.rule : undefined
  const [draft, setDraft] = useState<RuleDraft>(() => {
    if (rule) return ruleToDraft(rule)
    const d = emptyRule(target.kind === 'new' ? (target.node_id ?? '*') : '*', target.kind === 'new' ? (target.path_prefix ?? '') : '')
    d.name = suggestRuleName(d.path_prefix)
    return d
  })
  const set = (p: Partial<RuleDraft>) => setDraft((d) => ({ ...d, ...p }))
  const suggestions = useMemo(() => {
    const s = new Set<string>()
    for (const a of assignments ?? []) a.labels.forEach((l) => s.add(l))
    for (const r of rules ?? []) r.labels.forEach((l) => s.add(l))
    return [...s].sort()
  }, [assignments, rules])

  const save = useMutation({
    mutationFn: (body: Partial<RuleDraft>) =>
      rule
        ? api<LabelRuleDoc>(`/api/labels/rules/${encodeURIComponent(rule._id)}`, { method: 'PATCH', body })
        : api<LabelRuleDoc>('/api/labels/rules', { method: 'POST', body }),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['labels'] })
      onClose()
    },
  })
  const [confirmDelete, setConfirmDelete] = useState(false)
  const del = useMutation({
    mutationFn: () => api<void>(`/api/labels/rules/${encodeURIComponent(rule!._id)}`, { method: 'DELETE' }),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['labels'] })
      setConfirmDelete(false)
      onClose()
    },
  })

  const err = save.error instanceof ApiError ? save.error : null
  const field = ruleField(err?.field)
  const errorFor = (f: string) => (field === f ? err!.detail : null)
  // Checked here too, so the hint shows before saving; the server's word wins.
  const prefixHint = draft.path_prefix && !draft.path_prefix.endsWith('/') ? 'The prefix must end with “/” (so /data does not match /database).' : null
  const nodeKnown = draft.node_id === '*' || nodes.some((n) => n.node_id === draft.node_id)

  const body = ruleBody(draft, rule)
  const unchanged = rule !== undefined && Object.keys(body).length === 0

  return (
    <form
      className="grid gap-4"
      onSubmit={(e) => {
        e.preventDefault()
        if (unchanged) return onClose()
        save.mutate(body)
      }}
    >
      <Field id="rule-name" label="Name" error={errorFor('name')}>
        <Input
          id="rule-name"
          value={draft.name}
          onChange={(e) => set({ name: e.target.value })}
          aria-invalid={errorFor('name') ? true : undefined}
          aria-describedby={errorFor('name') ? 'rule-name-error' : undefined}
          placeholder="e.g. Tax documents"
          data-testid="rule-name"
        />
      </Field>
      <Field id="rule-node" label="Node" error={errorFor('node_id')}>
        <Select
          id="rule-node"
          value={draft.node_id}
          onChange={(e) => set({ node_id: e.target.value })}
          aria-invalid={errorFor('node_id') ? true : undefined}
          aria-describedby={errorFor('node_id') ? 'rule-node-error' : undefined}
          data-testid="rule-node"
        >
          <option value="*">* every node</option>
          {!nodeKnown && <option value={draft.node_id}>{draft.node_id} (not registered)</option>}
          {nodes.map((n) => (
            <option key={n.node_id} value={n.node_id}>
              {n.friendly_name || n.node_id} ({n.node_id})
            </option>
          ))}
        </Select>
      </Field>
      <Field id="rule-prefix" label="Path prefix" error={errorFor('path_prefix') ?? prefixHint} hint="An absolute folder path on the node, ending with /.">
        <Input
          id="rule-prefix"
          value={draft.path_prefix}
          onChange={(e) => set({ path_prefix: e.target.value })}
          aria-invalid={errorFor('path_prefix') || prefixHint ? true : undefined}
          aria-describedby={errorFor('path_prefix') || prefixHint ? 'rule-prefix-error' : undefined}
          placeholder="/home/me/taxes/"
          className="font-mono text-xs"
          data-testid="rule-prefix"
        />
      </Field>
      <div className="grid gap-1.5">
        <Label htmlFor="rule-labels">Labels</Label>
        <ChipsInput
          id="rule-labels"
          value={draft.labels}
          onChange={(labels) => set({ labels })}
          suggestions={suggestions}
          invalid={!!errorFor('labels')}
          describedBy={errorFor('labels') ? 'rule-labels-error' : undefined}
          placeholder="label then Enter"
          testId="rule-labels"
        />
        {errorFor('labels') && (
          <p id="rule-labels-error" role="alert" className="text-xs font-medium text-destructive">
            {errorFor('labels')}
          </p>
        )}
      </div>
      <div className="flex items-center gap-2">
        <Switch id="rule-enabled-edit" checked={draft.enabled} onCheckedChange={(enabled) => set({ enabled })} />
        <Label htmlFor="rule-enabled-edit">Enabled</Label>
      </div>

      <PreviewCount nodeId={draft.node_id} prefix={draft.path_prefix} />

      {save.error != null && !field && <ErrorMessage error={save.error} />}
      <div className="flex flex-wrap items-center gap-2 border-t pt-4">
        <Button type="submit" disabled={save.isPending} data-testid="rule-save">
          {save.isPending ? 'Saving…' : rule ? 'Save' : 'Create rule'}
        </Button>
        <Button type="button" variant="outline" onClick={onClose}>
          Cancel
        </Button>
        {rule && (
          <Button type="button" variant="destructive" className="ml-auto" onClick={() => setConfirmDelete(true)} data-testid="rule-delete">
            Delete
          </Button>
        )}
      </div>

      {rule && (
        <Dialog open={confirmDelete} onOpenChange={(o) => { setConfirmDelete(o); if (!o) del.reset() }}>
          <DialogContent title={`Delete the rule “${rule.name}”?`} description="Files under its prefix lose the labels it gives them (labels assigned directly stay).">
            {del.error != null && <ErrorMessage error={del.error} />}
            <div className="flex justify-end gap-2">
              <Button type="button" variant="outline" onClick={() => setConfirmDelete(false)}>
                Cancel
              </Button>
              <Button type="button" variant="destructive" disabled={del.isPending} onClick={() => del.mutate()} data-testid="rule-delete-confirm">
                {del.isPending ? 'Deleting…' : 'Delete rule'}
              </Button>
            </div>
          </DialogContent>
        </Dialog>
      )}
    </form>
  )
}

/**
 * How many files the rule would cover. There is no count endpoint: the
 * node's files are paged through GET /api/files (at most 10 pages of 1000)
 * and matched on the prefix here.
 */
function PreviewCount({ nodeId, prefix }: { nodeId: string; prefix: string }) {
  const key = useDebounced(`${nodeId}\n${prefix}`, 500)
  const [dNode, dPrefix] = key.split('\n')
  const ready = dPrefix.startsWith('/') && dPrefix.endsWith('/')
  const q = useQuery({
    queryKey: ['labels', 'rule-preview', dNode, dPrefix],
    queryFn: ({ signal }) =>
      countRuleFiles(
        (cursor) =>
          api<{ items: FileItem[]; next_cursor?: string | null }>('/api/files', {
            query: { limit: 1000, cursor, node_id: dNode === '*' ? undefined : dNode },
            signal,
          }),
        dNode,
        dPrefix,
        MAX_PREVIEW_PAGES,
      ),
    enabled: ready,
    staleTime: 30_000,
    retry: false,
  })
  const stale = key !== `${nodeId}\n${prefix}`
  return (
    <div className="rounded-md border bg-muted/40 p-3 text-sm" aria-live="polite">
      <p className="text-xs font-medium text-muted-foreground">Files this rule covers</p>
      {!ready ? (
        <p data-testid="rule-preview-count" data-state="idle" className="text-muted-foreground">
          Enter an absolute path prefix ending with “/” to see how many files it covers.
        </p>
      ) : q.isPending ? (
        <div role="status" aria-label="Counting files">
          <Skeleton className="mt-1 h-5 w-24" />
        </div>
      ) : q.isError ? (
        <div data-testid="rule-preview-count" data-state="error">
          <ErrorMessage error={q.error} className="mt-1" />
        </div>
      ) : (
        <p data-testid="rule-preview-count" data-state={stale ? 'stale' : 'current'} data-count={q.data.count} data-complete={q.data.complete}>
          <span className="text-lg font-semibold">
            {q.data.complete ? '' : 'at least '}
            {humanCount(q.data.count)}
          </span>{' '}
          {q.data.count === 1 ? 'file' : 'files'}
          {!q.data.complete && (
            <span className="block text-xs text-muted-foreground">
              Counted in the first {humanCount(q.data.scanned)} files of {dNode === '*' ? 'all nodes' : 'the node'}; an exact count needs a server-side count.
            </span>
          )}
        </p>
      )}
    </div>
  )
}

// Label rules, from the replica: a table whose Enabled switch PATCHes at once
// (optimistic, reverted with an error on failure), and the rule editor.
import { useMutation } from '@tanstack/react-query'
import { Plus, Tags } from 'lucide-react'
import { useEffect, useMemo, useState } from 'react'
import { EmptyState, ErrorMessage, LabelChip, NodeBadge } from '@/components/common'
import { Button } from '@/components/ui/button'
import { LoadingRows } from '@/components/ui/skeleton'
import { Switch } from '@/components/ui/switch'
import { Table, TBody, TD, TH, THead, TR } from '@/components/ui/table'
import { api } from '@/lib/api'
import { useLabelRules, type LabelRuleDoc } from '@/lib/docs'
import { RuleEditor, type EditorTarget } from './RuleEditor'

export function RulesTab({ initialNew, onEditorClosed }: { initialNew: { node_id?: string; path_prefix?: string } | null; onEditorClosed: () => void }) {
  const rules = useLabelRules()
  const [target, setTarget] = useState<EditorTarget | null>(initialNew ? { kind: 'new', ...initialNew } : null)
  // A deep link arriving while the page is open (the file browser's "Apply labels to folder").
  const deepKey = initialNew ? `${initialNew.node_id}\n${initialNew.path_prefix}` : null
  useEffect(() => {
    if (initialNew) setTarget({ kind: 'new', ...initialNew })
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [deepKey])

  const [overrides, setOverrides] = useState<Record<string, boolean>>({})
  const [toggleError, setToggleError] = useState<{ name: string; error: unknown } | null>(null)
  const toggle = useMutation({
    mutationFn: ({ rule, enabled }: { rule: LabelRuleDoc; enabled: boolean }) =>
      api<LabelRuleDoc>(`/api/labels/rules/${encodeURIComponent(rule._id)}`, { method: 'PATCH', body: { enabled } }),
    onMutate: ({ rule, enabled }) => {
      setToggleError(null)
      setOverrides((o) => ({ ...o, [rule._id]: enabled }))
    },
    onError: (error, { rule }) => {
      setOverrides((o) => {
        const n = { ...o }
        delete n[rule._id]
        return n
      })
      setToggleError({ name: rule.name, error })
    },
  })
  // Once the replica brings the confirmed state back, the override is done.
  useEffect(() => {
    setOverrides((o) => {
      const n = { ...o }
      let changed = false
      for (const r of rules.data ?? [])
        if (r._id in n && n[r._id] === r.enabled) {
          delete n[r._id]
          changed = true
        }
      return changed ? n : o
    })
  }, [rules.data])

  const sorted = useMemo(() => (rules.data ?? []).slice().sort((a, b) => a.name.localeCompare(b.name)), [rules.data])
  const close = () => {
    setTarget(null)
    onEditorClosed()
  }

  return (
    <div className="grid gap-3">
      <div className="flex flex-wrap items-center gap-3">
        <p className="mr-auto text-sm text-muted-foreground">A rule gives its labels to every file on a node (or on every node) below a path.</p>
        <Button onClick={() => setTarget({ kind: 'new' })} data-testid="rule-new">
          <Plus />
          New rule
        </Button>
      </div>
      {toggleError && <ErrorMessage error={`Could not change the rule “${toggleError.name}”: ${toggleError.error instanceof Error ? toggleError.error.message : String(toggleError.error)}`} />}
      {rules.isPending ? (
        <LoadingRows rows={4} label="Loading label rules" />
      ) : rules.isError ? (
        <ErrorMessage error={rules.error} />
      ) : sorted.length === 0 ? (
        <EmptyState title="No label rules yet" icon={<Tags className="size-8" />}>
          Create one with “New rule”, or use “Apply labels to folder” in Files to start from a folder.
        </EmptyState>
      ) : (
        <Table data-testid="rules-table">
          <THead>
            <TR>
              <TH scope="col">Name</TH>
              <TH scope="col">Node</TH>
              <TH scope="col">Path prefix</TH>
              <TH scope="col">Labels</TH>
              <TH scope="col">Enabled</TH>
            </TR>
          </THead>
          <TBody>
            {sorted.map((r) => {
              const enabled = overrides[r._id] ?? r.enabled
              return (
                <TR key={r._id} data-testid="rule-row" data-rule-name={r.name} data-rule-id={r._id} className="cursor-pointer" onClick={() => setTarget({ kind: 'edit', rule: r })}>
                  <TD>
                    <button
                      type="button"
                      className="text-left font-medium hover:underline focus-visible:outline-2 focus-visible:outline-ring"
                      onClick={(e) => {
                        e.stopPropagation()
                        setTarget({ kind: 'edit', rule: r })
                      }}
                    >
                      {r.name}
                    </button>
                  </TD>
                  <TD>{r.node_id === '*' ? <span className="text-sm">every node</span> : <NodeBadge nodeId={r.node_id} />}</TD>
                  <TD className="break-all font-mono text-xs">{r.path_prefix}</TD>
                  <TD>
                    <div className="flex flex-wrap gap-1">
                      {r.labels.map((l) => (
                        <LabelChip key={l} label={l} inherited via={r.name} />
                      ))}
                    </div>
                  </TD>
                  <TD onClick={(e) => e.stopPropagation()}>
                    <Switch
                      checked={enabled}
                      onCheckedChange={(v) => toggle.mutate({ rule: r, enabled: v })}
                      aria-label={`Rule “${r.name}” enabled`}
                      data-testid="rule-enabled"
                      data-pending={r._id in overrides ? 'true' : 'false'}
                    />
                  </TD>
                </TR>
              )
            })}
          </TBody>
        </Table>
      )}
      <RuleEditor target={target} onClose={close} />
    </div>
  )
}

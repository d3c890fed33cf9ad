// One mount source of the mount editor: node, export path, strategy, source
// prefix, default result, conflict policy, and its step pipeline.
import { ArrowDown, ArrowUp, Plus, Trash2 } from 'lucide-react'
import { Button } from '@/components/ui/button'
import { Input } from '@/components/ui/input'
import type { NodeDoc } from '@/lib/docs'
import { FieldError, FormRow, Select, fieldProps } from './controls'
import { StepRow } from './StepRow'
import { emptyStep, mountField, move, type ConflictPolicy, type DefaultResult, type MountDraft, type StepDraft, type Strategy } from './logic'

export function MountCard({
  index: i,
  count,
  mount,
  onChange,
  onRemove,
  onMove,
  errorFor,
  nodes,
  labels,
}: {
  index: number
  count: number
  mount: MountDraft
  onChange: (m: MountDraft) => void
  onRemove: () => void
  onMove: (delta: number) => void
  errorFor: (field: string) => string | null
  nodes: NodeDoc[]
  labels: string[]
}) {
  const f = (name: string) => mountField(i, name)
  const set = (patch: Partial<MountDraft>) => onChange({ ...mount, ...patch })
  const setSteps = (steps: StepDraft[]) => set({ steps })
  const nodeKnown = mount.node_id === '*' || nodes.some((n) => n.node_id === mount.node_id)
  const mountError = errorFor(`mounts[${i}]`) ?? errorFor(f('mount_id')) ?? errorFor(f('source'))
  const headingId = `mount-${mount.uid}-heading`
  return (
    <section
      data-testid="mount-card"
      data-mount-id={mount.mount_id ?? ''}
      aria-labelledby={headingId}
      className="grid gap-3 rounded-lg border bg-card p-4 text-card-foreground"
    >
      <div className="flex items-center gap-2">
        <h3 id={headingId} className="text-sm font-semibold">
          Mount {i + 1}
          {mount.mount_id && <span className="ml-2 font-mono text-xs font-normal text-muted-foreground">{mount.mount_id}</span>}
        </h3>
        <div className="ml-auto flex gap-1">
          <Button type="button" variant="ghost" size="icon" onClick={() => onMove(-1)} disabled={i === 0} aria-label={`Move mount ${i + 1} up`}>
            <ArrowUp />
          </Button>
          <Button type="button" variant="ghost" size="icon" onClick={() => onMove(1)} disabled={i === count - 1} aria-label={`Move mount ${i + 1} down`}>
            <ArrowDown />
          </Button>
          <Button type="button" variant="ghost" size="icon" onClick={onRemove} aria-label={`Remove mount ${i + 1}`} data-testid="remove-mount">
            <Trash2 />
          </Button>
        </div>
      </div>
      <FieldError field={`mounts[${i}]`} message={mountError} />
      <div className="grid gap-3 sm:grid-cols-2">
        <FormRow field={f('source.node_id')} label="Node" error={errorFor(f('source.node_id'))}>
          <Select {...fieldProps(f('source.node_id'), errorFor(f('source.node_id')))} value={mount.node_id} onChange={(e) => set({ node_id: e.target.value })}>
            <option value="*">* every node</option>
            {!nodeKnown && <option value={mount.node_id}>{mount.node_id} (not registered)</option>}
            {nodes.map((n) => (
              <option key={n.node_id} value={n.node_id}>
                {n.friendly_name || n.node_id} ({n.node_id})
              </option>
            ))}
          </Select>
        </FormRow>
        <FormRow field={f('source.export_path')} label="Export path on the node" error={errorFor(f('source.export_path'))} hint="Files at any depth below it are candidates.">
          <Input
            {...fieldProps(f('source.export_path'), errorFor(f('source.export_path')))}
            value={mount.export_path}
            placeholder="/home/me/documents"
            onChange={(e) => set({ export_path: e.target.value })}
            className="font-mono text-xs"
          />
        </FormRow>
        <FormRow field={f('strategy')} label="Strategy" error={errorFor(f('strategy'))}>
          <Select {...fieldProps(f('strategy'), errorFor(f('strategy')))} value={mount.strategy} onChange={(e) => set({ strategy: e.target.value as Strategy })}>
            <option value="prefix_replace">prefix_replace: keep the folders below the prefix</option>
            <option value="flatten">flatten: every match directly here</option>
          </Select>
        </FormRow>
        <FormRow
          field={f('source_prefix')}
          label="Source prefix"
          error={errorFor(f('source_prefix'))}
          hint={mount.strategy === 'flatten' ? 'Not used by flatten.' : 'Stripped from paths; empty: the export path.'}
        >
          <Input
            {...fieldProps(f('source_prefix'), errorFor(f('source_prefix')))}
            value={mount.source_prefix}
            placeholder={mount.export_path || '/'}
            onChange={(e) => set({ source_prefix: e.target.value })}
            className="font-mono text-xs"
          />
        </FormRow>
        <FormRow field={f('default_result')} label="When no step decides" error={errorFor(f('default_result'))}>
          <Select
            {...fieldProps(f('default_result'), errorFor(f('default_result')))}
            value={mount.default_result}
            onChange={(e) => set({ default_result: e.target.value as DefaultResult })}
          >
            <option value="include">include the file</option>
            <option value="exclude">exclude the file</option>
          </Select>
        </FormRow>
        <FormRow field={f('conflict_policy')} label="On a name collision" error={errorFor(f('conflict_policy'))}>
          <Select
            {...fieldProps(f('conflict_policy'), errorFor(f('conflict_policy')))}
            value={mount.conflict_policy}
            onChange={(e) => set({ conflict_policy: e.target.value as ConflictPolicy })}
          >
            <option value="last_write_wins">last_write_wins: the newest file keeps the name</option>
            <option value="suffix_node_id">suffix_node_id: keep both, add ~node</option>
          </Select>
        </FormRow>
      </div>
      <div className="grid gap-2">
        <h4 className="text-xs font-semibold uppercase tracking-wide text-muted-foreground">Steps</h4>
        <FieldError field={f('steps')} message={errorFor(f('steps'))} />
        {mount.steps.length === 0 ? (
          <p className="text-xs text-muted-foreground">No steps: every file below the export path is listed (after any inherited steps).</p>
        ) : (
          <ol className="grid gap-2">
            {mount.steps.map((s, j) => (
              <StepRow
                key={s.uid}
                mountIndex={i}
                stepIndex={j}
                count={mount.steps.length}
                step={s}
                onChange={(ns) => setSteps(mount.steps.map((x, k) => (k === j ? ns : x)))}
                onRemove={() => setSteps(mount.steps.filter((_, k) => k !== j))}
                onMove={(d) => setSteps(move(mount.steps, j, d))}
                errorFor={errorFor}
                nodeIds={nodes.map((n) => n.node_id)}
                labels={labels}
              />
            ))}
          </ol>
        )}
        <div>
          <Button type="button" variant="outline" size="sm" onClick={() => setSteps([...mount.steps, emptyStep()])} data-testid="add-step">
            <Plus />
            Add step
          </Button>
        </div>
      </div>
    </section>
  )
}

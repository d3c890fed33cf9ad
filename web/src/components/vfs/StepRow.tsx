// One editable step of a mount's pipeline: the op, its typed parameters,
// invert and on_match, and its place in the list.
import { ArrowDown, ArrowUp, Trash2 } from 'lucide-react'
import { ChipsInput } from '@/components/labels/ChipsInput'
import { Button } from '@/components/ui/button'
import { Input } from '@/components/ui/input'
import { Label } from '@/components/ui/label'
import { Switch } from '@/components/ui/switch'
import { FieldError, FormRow, Select, fieldProps } from './controls'
import { OP_LABEL, STEP_OPS, fieldDomId, isKnownOp, stepField, type OnMatch, type StepDraft } from './logic'

export function StepRow({
  mountIndex: i,
  stepIndex: j,
  count,
  step,
  onChange,
  onRemove,
  onMove,
  errorFor,
  nodeIds,
  labels,
}: {
  mountIndex: number
  stepIndex: number
  count: number
  step: StepDraft
  onChange: (s: StepDraft) => void
  onRemove: () => void
  onMove: (delta: number) => void
  errorFor: (field: string) => string | null
  nodeIds: string[]
  labels: string[]
}) {
  const f = (name: string) => stepField(i, j, name)
  const set = (patch: Partial<StepDraft>) => onChange({ ...step, ...patch })
  const text = (name: 'pattern' | 'min_days' | 'max_days' | 'min' | 'max' | 'plugin_name' | 'key' | 'value', label: string, placeholder: string, hint?: string, type = 'text') => (
    <FormRow field={f(name)} label={label} error={errorFor(f(name))} hint={hint}>
      <Input
        {...fieldProps(f(name), errorFor(f(name)))}
        type={type}
        inputMode={type === 'number' ? 'decimal' : undefined}
        value={step[name]}
        placeholder={placeholder}
        onChange={(e) => set({ [name]: e.target.value } as Partial<StepDraft>)}
        className="font-mono text-xs"
      />
    </FormRow>
  )
  const chips = (name: 'types' | 'node_ids' | 'labels', label: string, placeholder: string, suggestions: string[]) => (
    <FormRow field={f(name)} label={label} error={errorFor(f(name))} className="sm:col-span-2">
      <ChipsInput
        id={fieldDomId(f(name))}
        value={step[name]}
        onChange={(v) => set({ [name]: v } as Partial<StepDraft>)}
        placeholder={placeholder}
        suggestions={suggestions}
        invalid={!!errorFor(f(name))}
        describedBy={errorFor(f(name)) ? `${fieldDomId(f(name))}-error` : undefined}
      />
    </FormRow>
  )
  const known = isKnownOp(step.op)
  const stepError = errorFor(`mounts[${i}].steps[${j}]`)
  return (
    <li
      data-testid="step-row"
      data-op={step.op}
      className="grid gap-3 rounded-md border bg-background p-3 aria-[invalid=true]:border-destructive"
      aria-invalid={stepError ? true : undefined}
      aria-label={`Step ${j + 1}`}
    >
      <div className="flex flex-wrap items-end gap-2">
        <span className="pb-2 text-xs font-semibold text-muted-foreground">{j + 1}.</span>
        <FormRow field={f('op')} label="Operation" error={errorFor(f('op'))} className="min-w-48 flex-1">
          <Select
            {...fieldProps(f('op'), errorFor(f('op')))}
            value={step.op}
            onChange={(e) => set({ op: e.target.value, raw: undefined })}
          >
            {!known && <option value={step.op}>unknown: {step.op}</option>}
            {STEP_OPS.map((op) => (
              <option key={op} value={op}>
                {OP_LABEL[op]}
              </option>
            ))}
          </Select>
        </FormRow>
        <FormRow field={f('on_match')} label="When it matches" error={errorFor(f('on_match'))} className="min-w-44">
          <Select {...fieldProps(f('on_match'), errorFor(f('on_match')))} value={step.on_match} onChange={(e) => set({ on_match: e.target.value as OnMatch })}>
            <option value="">continue (no match: exclude)</option>
            <option value="include">include, stop</option>
            <option value="exclude">exclude, stop</option>
          </Select>
        </FormRow>
        <div className="flex items-center gap-2 pb-2">
          <Switch
            id={fieldDomId(f('invert'))}
            checked={step.invert}
            onCheckedChange={(v) => set({ invert: v })}
            data-testid="step-invert"
          />
          <Label htmlFor={fieldDomId(f('invert'))} className="text-xs">
            Invert
          </Label>
        </div>
        <div className="ml-auto flex gap-1 pb-0.5">
          <Button type="button" variant="ghost" size="icon" onClick={() => onMove(-1)} disabled={j === 0} aria-label={`Move step ${j + 1} up`}>
            <ArrowUp />
          </Button>
          <Button type="button" variant="ghost" size="icon" onClick={() => onMove(1)} disabled={j === count - 1} aria-label={`Move step ${j + 1} down`}>
            <ArrowDown />
          </Button>
          <Button type="button" variant="ghost" size="icon" onClick={onRemove} aria-label={`Remove step ${j + 1}`} data-testid="remove-step">
            <Trash2 />
          </Button>
        </div>
      </div>
      <div className="grid gap-3 sm:grid-cols-2">
        {step.op === 'glob' && text('pattern', 'Glob pattern', '**/*.pdf', 'Without “/”: the file name; with “/”: the path below the mount. ** crosses folders.')}
        {step.op === 'regex' && text('pattern', 'Regular expression', '^report-\\d{4}', 'Searched in the file name (unanchored; use ^…$).')}
        {step.op === 'age' && (
          <>
            {text('min_days', 'At least (days old)', 'e.g. 365', undefined, 'number')}
            {text('max_days', 'At most (days old)', 'e.g. 30', undefined, 'number')}
          </>
        )}
        {step.op === 'size' && (
          <>
            {text('min', 'Minimum size', 'e.g. 10MB or 1024', 'Bytes, or with a unit: KB MB GB TB (×1000), KiB MiB GiB TiB (×1024).')}
            {text('max', 'Maximum size', 'e.g. 1.5GiB')}
          </>
        )}
        {step.op === 'mime' && chips('types', 'MIME types (any of)', 'image/* then Enter', ['image/*', 'video/*', 'audio/*', 'text/*', 'application/pdf'])}
        {step.op === 'node' && chips('node_ids', 'Node ids (any of)', 'node id then Enter', nodeIds)}
        {step.op === 'label' && chips('labels', 'Labels (any of)', 'label then Enter', labels)}
        {step.op === 'annotation' && (
          <>
            {text('plugin_name', 'Plugin', 'e.g. ai-tagger')}
            {text('key', 'Key', 'e.g. topic')}
            {text('value', 'Expected value (optional)', 'empty: the key exists', 'JSON (42, true, "text"); other text is a string.')}
          </>
        )}
        {!known && (
          <p className="text-xs text-muted-foreground sm:col-span-2">
            This step uses an operation this page does not know; it is kept as it is. Choose another operation to replace it.
          </p>
        )}
      </div>
      <FieldError field={`mounts[${i}].steps[${j}]`} message={stepError} />
    </li>
  )
}

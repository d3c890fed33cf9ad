import { Button } from '@/components/ui/button'
import { Input } from '@/components/ui/input'
import { Label } from '@/components/ui/label'
import type { DateRange, Preset } from './history'

const PRESETS: { value: Preset; label: string }[] = [
  { value: '7d', label: '7 days' },
  { value: '30d', label: '30 days' },
  { value: '90d', label: '90 days' },
  { value: 'custom', label: 'Custom' },
]

/** 7 d / 30 d / 90 d / custom from–to. */
export function DateRangePicker({ value, onChange, error, max }: { value: DateRange; onChange: (r: DateRange) => void; error?: string | null; max: string }) {
  return (
    <div data-testid="date-range" className="flex flex-wrap items-end gap-3">
      <div role="group" aria-label="Date range" className="inline-flex rounded-md border p-0.5">
        {PRESETS.map((p) => (
          <Button
            key={p.value}
            type="button"
            size="sm"
            variant={value.preset === p.value ? 'default' : 'ghost'}
            aria-pressed={value.preset === p.value}
            data-preset={p.value}
            onClick={() => onChange({ ...value, preset: p.value })}
          >
            {p.label}
          </Button>
        ))}
      </div>
      {value.preset === 'custom' && (
        <>
          <DateField id="range-from" label="From" max={max} value={value.from} error={error} onChange={(from) => onChange({ ...value, from })} />
          <DateField id="range-to" label="To" max={max} value={value.to} error={error} onChange={(to) => onChange({ ...value, to })} />
        </>
      )}
      {error && (
        <p id="range-error" role="alert" className="basis-full text-xs font-medium text-destructive">
          {error}
        </p>
      )}
    </div>
  )
}

function DateField({ id, label, max, value, error, onChange }: { id: string; label: string; max?: string; value?: string; error?: string | null; onChange: (v: string) => void }) {
  return (
    <div className="grid gap-1">
      <Label htmlFor={id}>{label}</Label>
      <Input
        id={id}
        type="date"
        className="w-40"
        max={max}
        value={value ?? ''}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? 'range-error' : undefined}
        onChange={(e) => onChange(e.target.value)}
      />
    </div>
  )
}

// A list of short strings edited as chips: type and press Enter (or a comma)
// to add, × or Backspace on an empty input to remove. Used for labels, MIME
// types and node ids.
import { useId, useState, type KeyboardEvent } from 'react'
import { LabelChip } from '@/components/common'
import { Input } from '@/components/ui/input'
import { addLabel, splitLabels } from './logic'

export function ChipsInput({
  id,
  value,
  onChange,
  placeholder,
  suggestions,
  invalid,
  describedBy,
  label,
  testId,
}: {
  id: string
  value: string[]
  onChange: (v: string[]) => void
  placeholder?: string
  suggestions?: string[]
  invalid?: boolean
  describedBy?: string
  /** Accessible name of the input when no <label htmlFor> points at it. */
  label?: string
  testId?: string
}) {
  const [text, setText] = useState('')
  const listId = useId()
  const commit = () => {
    let next = value
    for (const l of splitLabels(text)) next = addLabel(next, l)
    if (next !== value) onChange(next)
    setText('')
  }
  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'Enter' || e.key === ',') {
      if (text.trim()) {
        e.preventDefault()
        commit()
      } else if (e.key === 'Enter') e.preventDefault()
    } else if (e.key === 'Backspace' && text === '' && value.length) {
      onChange(value.slice(0, -1))
    }
  }
  return (
    <div className="grid gap-1.5" data-testid={testId}>
      {value.length > 0 && (
        <ul className="flex flex-wrap gap-1" aria-label={label ? `${label}: current` : 'Current entries'}>
          {value.map((v) => (
            <li key={v}>
              <LabelChip label={v} onRemove={() => onChange(value.filter((x) => x !== v))} />
            </li>
          ))}
        </ul>
      )}
      <Input
        id={id}
        value={text}
        onChange={(e) => {
          const t = e.target.value
          // A pasted "a, b" or a picked suggestion ends up as chips at once.
          if (t.endsWith(',')) {
            let next = value
            for (const l of splitLabels(t)) next = addLabel(next, l)
            if (next !== value) onChange(next)
            setText('')
          } else setText(t)
        }}
        onKeyDown={onKeyDown}
        onBlur={commit}
        placeholder={placeholder ?? 'Type and press Enter'}
        aria-invalid={invalid || undefined}
        aria-describedby={describedBy}
        aria-label={label}
        list={suggestions?.length ? listId : undefined}
        autoComplete="off"
      />
      {suggestions && suggestions.length > 0 && (
        <datalist id={listId}>
          {suggestions
            .filter((s) => !value.includes(s))
            .map((s) => (
              <option key={s} value={s} />
            ))}
        </datalist>
      )}
    </div>
  )
}

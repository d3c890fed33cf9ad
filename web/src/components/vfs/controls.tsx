// Small form pieces of the mount editor: a native select in the theme, and a
// labelled field whose API error sits under it (data-testid="field-error").
import * as React from 'react'
import { Label } from '@/components/ui/label'
import { cn } from '@/lib/utils'
import { fieldDomId } from './logic'

export const Select = React.forwardRef<HTMLSelectElement, React.SelectHTMLAttributes<HTMLSelectElement>>(
  ({ className, ...props }, ref) => (
    <select
      ref={ref}
      className={cn(
        'flex h-9 w-full rounded-md border border-input bg-background px-2 py-1 text-sm shadow-sm focus-visible:outline-2 focus-visible:outline-ring disabled:opacity-50 aria-[invalid=true]:border-destructive',
        className,
      )}
      {...props}
    />
  ),
)
Select.displayName = 'Select'

/** The error of one field, under its input. */
export function FieldError({ field, message }: { field: string; message: string | null | undefined }) {
  if (!message) return null
  return (
    <p id={`${fieldDomId(field)}-error`} role="alert" data-testid="field-error" data-field={field} className="text-xs font-medium text-destructive">
      {message}
    </p>
  )
}

/** Props that tie an input to its field key and its error. */
export function fieldProps(field: string, error: string | null | undefined) {
  return {
    id: fieldDomId(field),
    'aria-invalid': error ? true : undefined,
    'aria-describedby': error ? `${fieldDomId(field)}-error` : undefined,
    'data-field': field,
  } as const
}

/** A label, its control, an optional hint and the field's error. */
export function FormRow({
  field,
  label,
  error,
  hint,
  className,
  children,
}: {
  field: string
  label: string
  error?: string | null
  hint?: string
  className?: string
  children: React.ReactNode
}) {
  return (
    <div className={cn('grid content-start gap-1', className)}>
      <Label htmlFor={fieldDomId(field)} className="text-xs">
        {label}
      </Label>
      {children}
      {hint && !error && <p className="text-xs text-muted-foreground">{hint}</p>}
      <FieldError field={field} message={error} />
    </div>
  )
}

// A confirmation dialog for destructive or far-reaching actions.
import type { ReactNode } from 'react'
import { ErrorMessage } from '@/components/common'
import { Button } from '@/components/ui/button'
import { Dialog, DialogClose, DialogContent } from '@/components/ui/sheet'

export function ConfirmDialog({
  open,
  onOpenChange,
  title,
  description,
  children,
  confirmLabel,
  destructive,
  busy,
  error,
  onConfirm,
  testid,
}: {
  open: boolean
  onOpenChange: (o: boolean) => void
  title: string
  description?: string
  children?: ReactNode
  confirmLabel: string
  destructive?: boolean
  busy?: boolean
  error?: unknown
  onConfirm: () => void
  testid?: string
}) {
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent title={title} description={description} data-testid={testid}>
        {children}
        {error ? <ErrorMessage error={error} /> : null}
        <div className="flex justify-end gap-2">
          <DialogClose asChild>
            <Button variant="outline">Cancel</Button>
          </DialogClose>
          <Button variant={destructive ? 'destructive' : 'default'} disabled={busy} onClick={onConfirm} data-testid={testid ? `${testid}-confirm` : undefined}>
            {busy ? 'Working…' : confirmLabel}
          </Button>
        </div>
      </DialogContent>
    </Dialog>
  )
}

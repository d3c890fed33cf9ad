// Dialog and side drawer (Radix Dialog): focus trapped, Escape closes, labelled.
import * as DialogPrimitive from '@radix-ui/react-dialog'
import { X } from 'lucide-react'
import * as React from 'react'
import { cn } from '@/lib/utils'

export const Dialog = DialogPrimitive.Root
export const DialogTrigger = DialogPrimitive.Trigger
export const DialogClose = DialogPrimitive.Close

const Overlay = React.forwardRef<
  React.ElementRef<typeof DialogPrimitive.Overlay>,
  React.ComponentPropsWithoutRef<typeof DialogPrimitive.Overlay>
>(({ className, ...props }, ref) => (
  <DialogPrimitive.Overlay ref={ref} className={cn('fixed inset-0 z-40 bg-black/40', className)} {...props} />
))
Overlay.displayName = 'Overlay'

interface ContentProps extends React.ComponentPropsWithoutRef<typeof DialogPrimitive.Content> {
  title: string
  description?: string
}

/** The shared body: overlay, panel, title, description (visually hidden when absent) and close button. */
function Panel({ className, children, title, description, panelClass, titleClass, headerClass, ...props }: ContentProps & { panelClass: string; titleClass: string; headerClass: string }) {
  return (
    <DialogPrimitive.Portal>
      <Overlay />
      <DialogPrimitive.Content className={cn(panelClass, className)} {...props}>
        <div className={headerClass}>
          <DialogPrimitive.Title className={titleClass}>{title}</DialogPrimitive.Title>
          <DialogPrimitive.Description className={description ? 'text-sm text-muted-foreground' : 'sr-only'}>{description ?? title}</DialogPrimitive.Description>
        </div>
        {children}
        <DialogPrimitive.Close className="absolute right-3 top-3 rounded-sm p-1 opacity-70 hover:opacity-100" aria-label="Close">
          <X className="size-4" />
        </DialogPrimitive.Close>
      </DialogPrimitive.Content>
    </DialogPrimitive.Portal>
  )
}

/** A centred modal dialog. */
export function DialogContent(props: ContentProps) {
  return (
    <Panel
      {...props}
      panelClass="fixed left-1/2 top-1/2 z-50 grid w-[min(32rem,calc(100vw-2rem))] -translate-x-1/2 -translate-y-1/2 gap-4 rounded-lg border bg-popover p-5 text-popover-foreground shadow-lg"
      headerClass="grid gap-1"
      titleClass="text-base font-semibold"
    />
  )
}

/** A drawer sliding in from the right (file details, editors). */
export function SheetContent(props: ContentProps) {
  return (
    <Panel
      {...props}
      panelClass="fixed inset-y-0 right-0 z-50 flex w-[min(40rem,100vw)] flex-col gap-4 overflow-y-auto border-l bg-popover p-5 text-popover-foreground shadow-xl"
      headerClass="grid gap-1 pr-8"
      titleClass="break-all text-base font-semibold"
    />
  )
}

// Small shared pieces every page uses: node badge, label chip, empty state,
// error message, page header, utilization bar.
import { AlertTriangle, Inbox } from 'lucide-react'
import type { ReactNode } from 'react'
import { ApiError } from '@/lib/api'
import { nodeName, useNodes } from '@/lib/docs'
import { percent } from '@/lib/format'
import { cn } from '@/lib/utils'

const PALETTE = ['bg-indigo-600', 'bg-cyan-700', 'bg-emerald-700', 'bg-amber-700', 'bg-rose-700', 'bg-violet-700', 'bg-teal-700', 'bg-fuchsia-700']

/** A stable colour for a node id. */
export function nodeColor(nodeId: string): string {
  let h = 0
  for (let i = 0; i < nodeId.length; i++) h = (h * 31 + nodeId.charCodeAt(i)) >>> 0
  return PALETTE[h % PALETTE.length]
}

/** A coloured pill with the node's friendly name and an online dot. */
export function NodeBadge({ nodeId, className }: { nodeId: string; className?: string }) {
  const nodes = useNodes()
  const node = nodes.data?.find((n) => n.node_id === nodeId)
  const online = node?.status === 'online'
  return (
    <span
      className={cn('inline-flex items-center gap-1.5 rounded-full px-2 py-0.5 text-xs font-medium text-white', nodeColor(nodeId), className)}
      title={nodeId}
    >
      <span
        role="img"
        aria-label={node ? (online ? 'online' : node.status) : 'unknown node'}
        className={cn('inline-block size-1.5 rounded-full', online ? 'bg-green-300' : 'bg-slate-300')}
      />
      {nodeName(nodes.data, nodeId)}
    </span>
  )
}

/** A label: solid when assigned directly, outlined when inherited from a rule. */
export function LabelChip({
  label,
  inherited,
  via,
  onRemove,
}: {
  label: string
  inherited?: boolean
  /** The rule it comes from, shown as a tooltip for inherited labels. */
  via?: string
  onRemove?: () => void
}) {
  return (
    <span
      className={cn(
        'inline-flex items-center gap-1 rounded-full border px-2 py-0.5 text-xs font-medium',
        inherited ? 'border-primary text-primary' : 'border-transparent bg-primary text-primary-foreground',
      )}
      title={inherited ? `inherited${via ? ` from rule “${via}”` : ''}` : 'assigned directly'}
      data-label={label}
      data-inherited={inherited ? 'true' : 'false'}
    >
      {label}
      {onRemove && (
        <button type="button" onClick={onRemove} aria-label={`Remove label ${label}`} className="-mr-1 rounded-full px-1 hover:bg-black/20">
          ×
        </button>
      )}
    </span>
  )
}

/** What to show where there is nothing yet, and what to do about it. */
export function EmptyState({ title, children, icon }: { title: string; children?: ReactNode; icon?: ReactNode }) {
  return (
    <div className="flex flex-col items-center justify-center gap-2 rounded-lg border border-dashed p-8 text-center">
      <div className="text-muted-foreground">{icon ?? <Inbox className="size-8" />}</div>
      <p className="font-medium">{title}</p>
      {children && <div className="max-w-md text-sm text-muted-foreground">{children}</div>}
    </div>
  )
}

/** An error in words: the API's message, never a bare status code. */
export function ErrorMessage({ error, className }: { error: unknown; className?: string }) {
  if (!error) return null
  const msg = error instanceof ApiError ? error.message : error instanceof Error ? error.message : String(error)
  return (
    <div role="alert" className={cn('flex items-start gap-2 rounded-md border border-destructive/40 bg-destructive/10 p-3 text-sm text-destructive', className)}>
      <AlertTriangle className="mt-0.5 size-4 shrink-0" />
      <span>{msg}</span>
    </div>
  )
}

export function PageHeader({ title, description, actions }: { title: string; description?: string; actions?: ReactNode }) {
  return (
    <div className="mb-4 flex flex-wrap items-end justify-between gap-3">
      <div>
        <h1 className="text-xl font-semibold tracking-tight">{title}</h1>
        {description && <p className="text-sm text-muted-foreground">{description}</p>}
      </div>
      {actions && <div className="flex items-center gap-2">{actions}</div>}
    </div>
  )
}

/** A bar coloured by how full it is: green below 75 %, amber to 90 %, red above. */
export function UsageBar({ used, total, label }: { used: number; total: number; label: string }) {
  const p = percent(used, total)
  const color = p == null ? 'bg-muted-foreground' : p >= 90 ? 'bg-red-600' : p >= 75 ? 'bg-amber-500' : 'bg-emerald-600'
  return (
    <div
      role="meter"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={p == null ? undefined : Math.round(p)}
      className="h-2 w-full overflow-hidden rounded-full bg-muted"
    >
      <div className={cn('h-full rounded-full', color)} style={{ width: `${p ?? 0}%` }} />
    </div>
  )
}

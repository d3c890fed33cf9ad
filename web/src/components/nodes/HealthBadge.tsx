import { Badge } from '@/components/ui/badge'
import { cn } from '@/lib/utils'
import { HEALTH_LABEL, type Health } from './health'

// Outlined rather than tinted: the tinted success badge is under 4.5:1 on white.
const TONE: Record<Health, string> = {
  online: 'border-success/50 text-success',
  degraded: 'border-warning/50 text-warning',
  stale: 'border-warning/50 text-warning',
  offline: 'border-destructive/50 text-destructive',
  disabled: 'text-muted-foreground',
}

export function HealthBadge({ health }: { health: Health }) {
  return (
    <Badge variant="outline" className={cn('bg-transparent', TONE[health])} data-health={health}>
      <span aria-hidden="true" className="inline-block size-1.5 rounded-full bg-current" />
      {HEALTH_LABEL[health]}
    </Badge>
  )
}

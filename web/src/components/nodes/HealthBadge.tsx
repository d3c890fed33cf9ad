import { Badge } from '@/components/ui/badge'
import { HEALTH_BADGE, HEALTH_LABEL, type Health } from './health'

export function HealthBadge({ health }: { health: Health }) {
  return (
    <Badge variant={HEALTH_BADGE[health]} data-health={health}>
      <span aria-hidden="true" className="inline-block size-1.5 rounded-full bg-current" />
      {HEALTH_LABEL[health]}
    </Badge>
  )
}

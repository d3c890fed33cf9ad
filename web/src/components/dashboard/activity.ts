// The dashboard's recent activity: notifications and agents' recent errors,
// merged newest first. Pure; tested in activity.test.ts.
import type { NotificationDoc, StatusDoc } from '@/lib/docs'

export interface ActivityItem {
  key: string
  time: string
  kind: 'notification' | 'error'
  severity: 'info' | 'warning' | 'error'
  title: string
  message: string
  nodeId?: string
  active?: boolean
}

export function activityFeed(notifications: NotificationDoc[], statuses: StatusDoc[], limit = 15): ActivityItem[] {
  const items: ActivityItem[] = []
  for (const n of notifications) {
    items.push({
      key: n._id,
      time: n.last_seen,
      kind: 'notification',
      severity: n.severity,
      title: n.title,
      message: n.message,
      nodeId: n.source?.node_id,
      active: n.status === 'active',
    })
  }
  for (const s of statuses) {
    ;(s.recent_errors ?? []).forEach((e, i) => {
      items.push({
        key: `${s._id}#${i}#${e.time}`,
        time: e.time,
        kind: 'error',
        severity: e.level === 'error' ? 'error' : 'warning',
        title: `${e.subsystem}: ${e.level}`,
        message: e.message,
        nodeId: s.node_id,
      })
    })
  }
  const t = (x: ActivityItem) => {
    const v = Date.parse(x.time)
    return Number.isNaN(v) ? -Infinity : v
  }
  return items.sort((a, b) => t(b) - t(a)).slice(0, limit)
}

/** Active notifications of severity error. */
export function activeErrors(notifications: NotificationDoc[]): NotificationDoc[] {
  return notifications.filter((n) => n.status === 'active' && n.severity === 'error')
}

/** Splits a notification action's `"POST /api/…"` into method and path; null unless it is an API call. */
export function parseAction(api: string): { method: string; path: string } | null {
  const m = /^(GET|POST|PUT|PATCH|DELETE)\s+(\/api\/\S*)$/.exec(api.trim())
  return m ? { method: m[1], path: m[2] } : null
}

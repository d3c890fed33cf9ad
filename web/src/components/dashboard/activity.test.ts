import { describe, expect, it } from 'vitest'
import type { NotificationDoc, StatusDoc } from '@/lib/docs'
import { activeErrors, activityFeed, parseAction } from './activity'

const notif = (id: string, last_seen: string, p: Partial<NotificationDoc> = {}): NotificationDoc => ({
  _id: id,
  type: 'notification',
  source: { node_id: 'a' },
  severity: 'warning',
  status: 'active',
  title: id,
  message: 'm',
  first_seen: last_seen,
  last_seen,
  ...p,
})
const st: StatusDoc = {
  _id: 'status::a',
  type: 'agent_status',
  node_id: 'a',
  updated_at: '2026-12-03T10:00:00Z',
  overall: 'degraded',
  subsystems: {},
  recent_errors: [
    { time: '2026-12-03T09:00:00Z', subsystem: 'crawler', level: 'warn', message: 'old' },
    { time: '2026-12-03T11:00:00Z', subsystem: 'watcher', level: 'error', message: 'new' },
  ],
}

describe('activityFeed', () => {
  it('merges newest first', () => {
    const f = activityFeed([notif('n1', '2026-12-03T10:00:00Z')], [st])
    expect(f.map((x) => x.message)).toEqual(['new', 'm', 'old'])
    expect(f[0]).toMatchObject({ kind: 'error', severity: 'error', nodeId: 'a', title: 'watcher: error' })
    expect(f[2].severity).toBe('warning')
  })
  it('limits', () => expect(activityFeed([notif('n1', '2026-12-03T10:00:00Z')], [st], 2)).toHaveLength(2))
  it('keeps only active error notifications for the banner', () => {
    const list = [
      notif('a', 't', { severity: 'error' }),
      notif('b', 't', { severity: 'error', status: 'resolved' }),
      notif('c', 't', { severity: 'warning' }),
    ]
    expect(activeErrors(list).map((n) => n._id)).toEqual(['a'])
  })
})

describe('parseAction', () => {
  it('accepts API calls only', () => {
    expect(parseAction('POST /api/system/reindex')).toEqual({ method: 'POST', path: '/api/system/reindex' })
    expect(parseAction('  DELETE /api/x ')).toEqual({ method: 'DELETE', path: '/api/x' })
    expect(parseAction('POST https://evil.example/api')).toBeNull()
    expect(parseAction('open the docs')).toBeNull()
  })
})

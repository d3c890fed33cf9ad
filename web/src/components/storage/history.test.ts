import { describe, expect, it } from 'vitest'
import { formatDay, parseDay, resolveRange, shapeHistory, usageLevel } from './history'
import { storageTotals } from './types'

const now = new Date(2026, 11, 3, 12, 0, 0).getTime()
const DAY = 86_400_000

describe('resolveRange', () => {
  it('presets ask for their days', () => {
    expect(resolveRange({ preset: '7d' }, now)).toEqual({ days: 7, fromMs: now - 7 * DAY, toMs: now })
    expect('days' in resolveRange({ preset: '90d' }, now) && (resolveRange({ preset: '90d' }, now) as { days: number }).days).toBe(90)
  })
  it('custom fetches from its start to now and cuts at the end day', () => {
    const r = resolveRange({ preset: 'custom', from: '2026-11-20', to: '2026-11-25' }, now)
    expect(r).toMatchObject({ days: 14, fromMs: new Date(2026, 10, 20).getTime(), toMs: new Date(2026, 10, 26).getTime() - 1 })
  })
  it('custom never ends after now', () => {
    const r = resolveRange({ preset: 'custom', from: '2026-12-01', to: '2026-12-31' }, now) as { toMs: number }
    expect(r.toMs).toBe(now)
  })
  it('custom errors in words', () => {
    expect(resolveRange({ preset: 'custom' }, now)).toEqual({ error: 'Choose a start date.' })
    expect(resolveRange({ preset: 'custom', from: '2026-11-20' }, now)).toEqual({ error: 'Choose an end date.' })
    expect(resolveRange({ preset: 'custom', from: '2026-11-20', to: '2026-11-01' }, now)).toHaveProperty('error')
    expect(resolveRange({ preset: 'custom', from: '2024-01-01', to: '2024-02-01' }, now)).toHaveProperty('error')
    expect(resolveRange({ preset: 'custom', from: '2027-01-01', to: '2027-02-01' }, now)).toHaveProperty('error')
  })
  it('a range starting today asks for at least 1 day', () => {
    expect(resolveRange({ preset: 'custom', from: formatDay(now), to: formatDay(now) }, now)).toMatchObject({ days: 1 })
  })
  it('parses only YYYY-MM-DD', () => {
    expect(parseDay('2026-1-1')).toBeNull()
    expect(formatDay(parseDay('2026-02-03')!)).toBe('2026-02-03')
  })
})

describe('shapeHistory', () => {
  const snap = (t: string, fs: [string, string, number, number][]) => ({
    captured_at: t,
    filesystems: fs.map(([filesystem_id, mount_point, used_bytes, available_bytes]) => ({ filesystem_id, mount_point, used_bytes, available_bytes })),
  })
  it('one point per snapshot, oldest first, one series per filesystem', () => {
    const r = shapeHistory([
      snap('2026-12-02T10:00:00Z', [['a', '/', 20, 80], ['b', '/data', 5, 5]]),
      snap('2026-12-01T10:00:00Z', [['a', '/', 10, 90]]),
    ])
    expect(r.series).toEqual([{ key: 'a', name: '/' }, { key: 'b', name: '/data' }])
    expect(r.points.map((p) => p.t)).toEqual([Date.parse('2026-12-01T10:00:00Z'), Date.parse('2026-12-02T10:00:00Z')])
    expect(r.points[0]).toMatchObject({ a: 10, 'cap:a': 100 })
    expect(r.points[0].b).toBeUndefined()
    expect(r.points[1]).toMatchObject({ a: 20, b: 5, 'cap:b': 10 })
  })
  it('cuts to the range and skips bad timestamps', () => {
    const r = shapeHistory(
      [snap('2026-12-01T10:00:00Z', [['a', '/', 1, 1]]), snap('bad', [['a', '/', 1, 1]]), snap('2026-12-03T10:00:00Z', [['a', '/', 1, 1]])],
      Date.parse('2026-12-02T00:00:00Z'),
      Date.parse('2026-12-04T00:00:00Z'),
    )
    expect(r.points).toHaveLength(1)
  })
  it('empty', () => expect(shapeHistory([])).toEqual({ points: [], series: [] }))
})

describe('usageLevel', () => {
  it('thresholds match UsageBar', () => {
    expect(usageLevel(null)).toBe('unknown')
    expect(usageLevel(74.9)).toBe('ok')
    expect(usageLevel(75)).toBe('warn')
    expect(usageLevel(90)).toBe('full')
  })
})

describe('storageTotals', () => {
  it('sums every filesystem of every node', () => {
    const fs = (c: number, u: number) => ({ filesystem_id: 'x', mount_point: '/', fs_type: 'ext4', capacity_bytes: c, used_bytes: u })
    expect(
      storageTotals({
        nodes: [
          { node_id: 'a', friendly_name: 'A', status: 'online', storage: [fs(100, 10), fs(50, 5)], latest_snapshot: null },
          { node_id: 'b', friendly_name: null, status: null, storage: [], latest_snapshot: null },
        ],
      }),
    ).toEqual({ capacity: 150, used: 15, filesystems: 2 })
  })
})

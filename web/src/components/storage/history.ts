// Pure shaping of utilization history for the charts, and the date ranges of
// the range picker. Tested in history.test.ts.
import type { UtilizationDoc } from '@/lib/docs'

/** The history route accepts 1–365 days back from now. */
export const MAX_DAYS = 365
const DAY = 86_400_000

export type Preset = '7d' | '30d' | '90d' | 'custom'

export interface DateRange {
  preset: Preset
  /** `YYYY-MM-DD`, used when preset is `custom`. */
  from?: string
  to?: string
}

export interface ResolvedRange {
  /** The `days` to ask `GET /api/storage/{id}/history` for. */
  days: number
  /** Inclusive bounds (ms) to keep from its answer. */
  fromMs: number
  toMs: number
}

/** Parses `YYYY-MM-DD` as a local date at midnight, or null. */
export function parseDay(s: string | undefined): number | null {
  if (!s || !/^\d{4}-\d{2}-\d{2}$/.test(s)) return null
  const [y, m, d] = s.split('-').map(Number)
  const t = new Date(y, m - 1, d).getTime()
  return Number.isNaN(t) ? null : t
}

/** `YYYY-MM-DD` of a time, local. */
export function formatDay(ms: number): string {
  const d = new Date(ms)
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`
}

/**
 * The request and filter for a range, or an error in words. A custom range
 * is fetched as the days from its start to now (the API counts back from
 * now) and cut to `to` (end of that day) on the client.
 */
export function resolveRange(r: DateRange, now: number): ResolvedRange | { error: string } {
  if (r.preset !== 'custom') {
    const days = r.preset === '7d' ? 7 : r.preset === '30d' ? 30 : 90
    return { days, fromMs: now - days * DAY, toMs: now }
  }
  const from = parseDay(r.from)
  const toDay = parseDay(r.to)
  if (from == null) return { error: 'Choose a start date.' }
  if (toDay == null) return { error: 'Choose an end date.' }
  if (toDay < from) return { error: 'The end date is before the start date.' }
  if (from > now) return { error: 'The start date is in the future.' }
  const days = Math.ceil((now - from) / DAY)
  if (days > MAX_DAYS) return { error: `History goes back at most ${MAX_DAYS} days.` }
  return { days: Math.max(1, days), fromMs: from, toMs: Math.min(now, toDay + DAY - 1) }
}

export interface Series {
  /** filesystem_id: the key of its values in each point. */
  key: string
  /** Mount point, for the legend. */
  name: string
}

export interface ChartPoint {
  /** captured_at, ms. */
  t: number
  /** used_bytes per filesystem_id; capacity (used + available) under `cap:{id}`. */
  [key: string]: number
}

/**
 * Snapshots (any order) → points oldest first, one series per filesystem
 * (its first-seen mount point as the name), keeping only those inside
 * [fromMs, toMs] when given.
 */
export function shapeHistory(
  snapshots: Pick<UtilizationDoc, 'captured_at' | 'filesystems'>[],
  fromMs = -Infinity,
  toMs = Infinity,
): { points: ChartPoint[]; series: Series[] } {
  const series = new Map<string, string>()
  const points: ChartPoint[] = []
  for (const s of snapshots) {
    const t = Date.parse(s.captured_at)
    if (Number.isNaN(t) || t < fromMs || t > toMs) continue
    const p: ChartPoint = { t }
    for (const fs of s.filesystems ?? []) {
      if (!series.has(fs.filesystem_id)) series.set(fs.filesystem_id, fs.mount_point)
      p[fs.filesystem_id] = fs.used_bytes
      p[`cap:${fs.filesystem_id}`] = fs.used_bytes + fs.available_bytes
    }
    points.push(p)
  }
  points.sort((a, b) => a.t - b.t)
  return { points, series: [...series].map(([key, name]) => ({ key, name })) }
}

/** Usage level of a percentage, matching UsageBar's colours. */
export function usageLevel(p: number | null): 'ok' | 'warn' | 'full' | 'unknown' {
  if (p == null) return 'unknown'
  return p >= 90 ? 'full' : p >= 75 ? 'warn' : 'ok'
}

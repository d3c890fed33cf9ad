// Humanised sizes, dates and durations. Pure functions, tested in format.test.ts.

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']

/** `1536` → `"1.5 KiB"`; bytes below 1 KiB stay exact (`"999 B"`). */
export function humanSize(bytes: number | null | undefined): string {
  if (bytes == null || !Number.isFinite(bytes) || bytes < 0) return '—'
  if (bytes < 1024) return `${bytes} B`
  let v = bytes
  let u = 0
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024
    u++
  }
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${UNITS[u]}`
}

/** A count with thousands separators: `500000` → `"500,000"`. */
export function humanCount(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return '—'
  return Math.round(n).toLocaleString('en-US')
}

/** `"3 min ago"`, `"in 2 h"`, `"just now"`, relative to `now` (ms). */
export function relativeTime(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return 'never'
  const t = Date.parse(iso)
  if (Number.isNaN(t)) return 'unknown'
  const diff = Math.round((now - t) / 1000)
  const abs = Math.abs(diff)
  let s: string
  if (abs < 10) return 'just now'
  if (abs < 60) s = `${abs} s`
  else if (abs < 3600) s = `${Math.floor(abs / 60)} min`
  else if (abs < 86400) s = `${Math.floor(abs / 3600)} h`
  else if (abs < 86400 * 30) s = `${Math.floor(abs / 86400)} d`
  else return humanDate(iso)
  return diff >= 0 ? `${s} ago` : `in ${s}`
}

// One formatter for every call: `toLocaleString(locale, options)` builds a new
// Intl.DateTimeFormat each time, which was a quarter of the CPU time of
// scrolling a large directory (scripts/bench.sh web, BENCH_PROFILE).
let dateFormat: Intl.DateTimeFormat | null = null

/** A date and time in the reader's locale, e.g. `"3 Dec 2026, 08:41"`. */
export function humanDate(iso: string | null | undefined): string {
  if (!iso) return '—'
  const t = Date.parse(iso)
  if (Number.isNaN(t)) return '—'
  dateFormat ??= new Intl.DateTimeFormat(undefined, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
  })
  return dateFormat.format(t)
}

/** Percentage of `used` in `total`, 0..100, or null when unknown. */
export function percent(used: number, total: number): number | null {
  if (!total || total <= 0 || !Number.isFinite(used)) return null
  return Math.min(100, Math.max(0, (used / total) * 100))
}

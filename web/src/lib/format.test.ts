import { describe, expect, it } from 'vitest'
import { humanCount, humanDate, humanSize, percent, relativeTime } from './format'

describe('humanSize', () => {
  it('keeps small sizes exact and scales larger ones', () => {
    expect(humanSize(0)).toBe('0 B')
    expect(humanSize(999)).toBe('999 B')
    expect(humanSize(1536)).toBe('1.50 KiB')
    expect(humanSize(5 * 1024 * 1024)).toBe('5.00 MiB')
    expect(humanSize(150 * 1024 ** 3)).toBe('150 GiB')
  })
  it('answers a dash for unknown sizes', () => {
    expect(humanSize(undefined)).toBe('—')
    expect(humanSize(-1)).toBe('—')
    expect(humanSize(Number.NaN)).toBe('—')
  })
})

describe('relativeTime', () => {
  const now = Date.parse('2026-12-03T10:00:00Z')
  it('describes past and future', () => {
    expect(relativeTime('2026-12-03T09:59:58Z', now)).toBe('just now')
    expect(relativeTime('2026-12-03T09:57:00Z', now)).toBe('3 min ago')
    expect(relativeTime('2026-12-03T08:00:00Z', now)).toBe('2 h ago')
    expect(relativeTime('2026-12-03T12:00:00Z', now)).toBe('in 2 h')
  })
  it('handles missing and malformed input', () => {
    expect(relativeTime(null, now)).toBe('never')
    expect(relativeTime('not a date', now)).toBe('unknown')
  })
})

describe('humanCount and percent', () => {
  it('formats', () => {
    expect(humanCount(500000)).toBe('500,000')
    expect(percent(50, 200)).toBe(25)
    expect(percent(5, 0)).toBeNull()
    expect(percent(300, 200)).toBe(100)
  })
})

describe('humanDate', () => {
  it('formats in the reader locale, as toLocaleString would, with one shared formatter', () => {
    const opts: Intl.DateTimeFormatOptions = { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }
    for (const iso of ['2026-12-03T08:41:00Z', '2019-02-28T23:59:59Z']) {
      expect(humanDate(iso)).toBe(new Date(iso).toLocaleString(undefined, opts))
    }
  })
  it('says — for a missing or unreadable date', () => {
    expect(humanDate(null)).toBe('—')
    expect(humanDate('not a date')).toBe('—')
  })
})

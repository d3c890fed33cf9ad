import { describe, expect, it } from 'vitest'
import type { LabelAssignmentDoc, LabelRuleDoc } from '@/lib/docs'
import {
  addLabel,
  countCovered,
  countRuleFiles,
  matchesFilter,
  ruleBody,
  ruleField,
  ruleToDraft,
  sortRows,
  splitLabels,
  suggestRuleName,
  type AssignmentRow,
  type FileItem,
} from './logic'

const a = (file_id: string, labels: string[], updated_at: string, updated_by = 'K1'): LabelAssignmentDoc => ({
  _id: `label_file::${file_id}`,
  type: 'label_assignment',
  file_id,
  labels,
  updated_at,
  updated_by,
})

describe('assignment rows', () => {
  const rows: AssignmentRow[] = [
    { doc: a('file::2', ['b'], '2026-01-02T00:00:00Z', 'K2'), path: '/home/z.txt', name: 'z.txt' },
    { doc: a('file::1', ['a', 'c'], '2026-01-03T00:00:00Z'), path: '/data/a.txt', name: 'a.txt' },
    { doc: a('file::3', ['a'], '2026-01-01T00:00:00Z') },
  ]
  it('sorts by each column, both ways', () => {
    expect(sortRows(rows, 'file', 'asc').map((r) => r.doc.file_id)).toEqual(['file::1', 'file::2', 'file::3'])
    expect(sortRows(rows, 'updated', 'desc').map((r) => r.doc.file_id)).toEqual(['file::1', 'file::2', 'file::3'])
    expect(sortRows(rows, 'labels', 'asc').map((r) => r.doc.file_id)).toEqual(['file::3', 'file::1', 'file::2'])
    expect(sortRows(rows, 'by', 'asc').map((r) => r.doc.file_id)).toEqual(['file::1', 'file::3', 'file::2'])
  })
  it('filters by path, name or (until loaded) id', () => {
    expect(rows.filter((r) => matchesFilter(r, 'DATA')).length).toBe(1)
    expect(rows.filter((r) => matchesFilter(r, 'file::3')).length).toBe(1)
    expect(rows.filter((r) => matchesFilter(r, '  ')).length).toBe(3)
  })
})

describe('rule drafts', () => {
  const rule: LabelRuleDoc = {
    _id: 'label_rule::x',
    type: 'label_rule',
    node_id: '*',
    path_prefix: '/a/',
    labels: ['x'],
    name: 'X',
    enabled: true,
  }
  it('sends only what changed', () => {
    expect(ruleBody(ruleToDraft(rule), rule)).toEqual({})
    expect(ruleBody({ ...ruleToDraft(rule), name: ' Y ', labels: ['x', 'y'] }, rule)).toEqual({ name: 'Y', labels: ['x', 'y'] })
    expect(ruleBody({ name: ' n ', node_id: 'a', path_prefix: '/p/', labels: ['l'], enabled: true })).toEqual({
      name: 'n',
      node_id: 'a',
      path_prefix: '/p/',
      labels: ['l'],
      enabled: true,
    })
  })
  it('maps error fields', () => {
    expect(ruleField('labels[3]')).toBe('labels')
    expect(ruleField('path_prefix')).toBe('path_prefix')
    expect(ruleField('cursor')).toBeNull()
  })
  it('edits labels', () => {
    expect(addLabel(['a'], ' b ')).toEqual(['a', 'b'])
    const l = ['a']
    expect(addLabel(l, 'a')).toBe(l)
    expect(addLabel(l, ' ')).toBe(l)
    expect(splitLabels('a, b,,c ')).toEqual(['a', 'b', 'c'])
    expect(suggestRuleName('/home/me/taxes/')).toBe('taxes')
  })
})

describe('counting covered files', () => {
  const f = (id: string, node_id: string, export_path: string): FileItem => ({ id, node_id, export_path })
  const files = [f('1', 'n1', '/data/a'), f('2', 'n1', '/database/b'), f('3', 'n2', '/data/c'), f('4', 'n1', '/data/x/d')]
  it('counts by node and prefix', () => {
    expect(countCovered(files, '*', '/data/')).toBe(3)
    expect(countCovered(files, 'n1', '/data/')).toBe(2)
  })
  it('pages until the end or the limit', async () => {
    const pages = [files.slice(0, 2), files.slice(2)]
    const fetchPage = async (c: string | null) => {
      const i = c ? Number(c) : 0
      return { items: pages[i], next_cursor: i + 1 < pages.length ? String(i + 1) : null }
    }
    expect(await countRuleFiles(fetchPage, '*', '/data/', 10)).toEqual({ count: 3, complete: true, scanned: 4 })
    expect(await countRuleFiles(fetchPage, '*', '/data/', 1)).toEqual({ count: 1, complete: false, scanned: 2 })
  })
})

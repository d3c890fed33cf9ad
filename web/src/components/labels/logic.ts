// Pure logic of the labels page: sorting and filtering assignments, the rule
// editor's draft, and counting the files a rule would cover. Tested in logic.test.ts.
import type { LabelAssignmentDoc, LabelRuleDoc } from '@/lib/docs'

export type SortKey = 'file' | 'labels' | 'updated' | 'by'
export type SortDir = 'asc' | 'desc'

export interface AssignmentRow {
  doc: LabelAssignmentDoc
  /** The file's name and path once loaded. */
  name?: string
  path?: string
}

/** Compares two assignment rows on `key` (missing names sort by file id). */
export function compareRows(a: AssignmentRow, b: AssignmentRow, key: SortKey): number {
  switch (key) {
    case 'file':
      // Rows whose file has not loaded yet go last, by id.
      if (a.path === undefined || b.path === undefined)
        return a.path === b.path ? a.doc.file_id.localeCompare(b.doc.file_id) : a.path === undefined ? 1 : -1
      return a.path.localeCompare(b.path)
    case 'labels':
      return a.doc.labels.join(',').localeCompare(b.doc.labels.join(',')) || a.doc.file_id.localeCompare(b.doc.file_id)
    case 'updated':
      return (Date.parse(a.doc.updated_at) || 0) - (Date.parse(b.doc.updated_at) || 0) || a.doc.file_id.localeCompare(b.doc.file_id)
    case 'by':
      return (a.doc.updated_by ?? '').localeCompare(b.doc.updated_by ?? '') || a.doc.file_id.localeCompare(b.doc.file_id)
  }
}

export function sortRows(rows: AssignmentRow[], key: SortKey, dir: SortDir): AssignmentRow[] {
  const s = rows.slice().sort((a, b) => compareRows(a, b, key))
  return dir === 'desc' ? s.reverse() : s
}

/** Whether a row matches the path filter (case-insensitive substring of the path, else of the id). */
export function matchesFilter(row: AssignmentRow, filter: string): boolean {
  const f = filter.trim().toLowerCase()
  if (!f) return true
  return (row.path ?? row.doc.file_id).toLowerCase().includes(f) || (row.name ?? '').toLowerCase().includes(f)
}

export interface RuleDraft {
  name: string
  node_id: string
  path_prefix: string
  labels: string[]
  enabled: boolean
}

export function emptyRule(nodeId = '*', pathPrefix = ''): RuleDraft {
  return { name: '', node_id: nodeId, path_prefix: pathPrefix, labels: [], enabled: true }
}

export function ruleToDraft(r: LabelRuleDoc): RuleDraft {
  return { name: r.name, node_id: r.node_id, path_prefix: r.path_prefix, labels: r.labels.slice(), enabled: r.enabled }
}

/** The fields of `draft` that differ from `rule` (the PATCH body), or all of them for a new rule. */
export function ruleBody(draft: RuleDraft, rule?: LabelRuleDoc): Partial<RuleDraft> {
  if (!rule) return { ...draft, name: draft.name.trim() }
  const out: Partial<RuleDraft> = {}
  if (draft.name.trim() !== rule.name) out.name = draft.name.trim()
  if (draft.node_id !== rule.node_id) out.node_id = draft.node_id
  if (draft.path_prefix !== rule.path_prefix) out.path_prefix = draft.path_prefix
  if (draft.labels.join('\u0000') !== rule.labels.join('\u0000')) out.labels = draft.labels
  if (draft.enabled !== rule.enabled) out.enabled = draft.enabled
  return out
}

/** A name for a rule made from a prefix: `/home/me/taxes/` → `taxes`. */
export function suggestRuleName(prefix: string): string {
  const segs = prefix.split('/').filter(Boolean)
  return segs.length ? segs[segs.length - 1] : ''
}

/** The field of the rule editor an API error names (`labels[2]` → `labels`). */
export function ruleField(field: string | null | undefined): 'name' | 'node_id' | 'path_prefix' | 'labels' | null {
  if (!field) return null
  const f = field.replace(/\[\d+\]$/, '')
  return f === 'name' || f === 'node_id' || f === 'path_prefix' || f === 'labels' ? f : null
}

/** Adds a label (trimmed, not twice); returns the same list when nothing changes. */
export function addLabel(labels: string[], label: string): string[] {
  const l = label.trim()
  if (!l || labels.includes(l)) return labels
  return [...labels, l]
}

/** Splits typed text on commas into labels (`"a, b,,c"` → `["a","b","c"]`). */
export function splitLabels(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
}

export interface FileItem {
  id: string
  node_id: string
  export_path: string
}

export interface CoverCount {
  count: number
  /** False when the scan stopped at its page limit: the count is a lower bound. */
  complete: boolean
  scanned: number
}

/** Counts the files of one page a rule covers (rule_covers: node `*` or equal, and the path prefix). */
export function countCovered(items: FileItem[], nodeId: string, prefix: string): number {
  return items.filter((f) => (nodeId === '*' || f.node_id === nodeId) && f.export_path.startsWith(prefix)).length
}

/**
 * Counts the files a rule would cover by paging `GET /api/files` (filtered by
 * node on the server, by prefix here), at most `maxPages` pages: there is no
 * count endpoint, so beyond that the count is a lower bound.
 */
export async function countRuleFiles(
  fetchPage: (cursor: string | null) => Promise<{ items: FileItem[]; next_cursor?: string | null }>,
  nodeId: string,
  prefix: string,
  maxPages: number,
): Promise<CoverCount> {
  let cursor: string | null = null
  let count = 0
  let scanned = 0
  for (let i = 0; i < maxPages; i++) {
    const page = await fetchPage(cursor)
    count += countCovered(page.items, nodeId, prefix)
    scanned += page.items.length
    cursor = page.next_cursor ?? null
    if (!cursor) return { count, complete: true, scanned }
  }
  return { count, complete: false, scanned }
}

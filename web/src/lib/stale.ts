// Which API-backed queries a replicated change makes stale. The replica holds
// the small documents; some API answers are computed from them (label lists,
// effective labels, label-filtered search). When one of those documents
// changes elsewhere (another tab, the CLI, a rule), the page's cached answer
// must be refetched, not kept until it goes stale by age.

/** Query-key roots to invalidate per replicated document-id prefix. */
const API_KEYS_BY_PREFIX: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['label_file::', ['labels', 'search']],
  ['label_rule::', ['labels', 'search']],
]

/** The distinct query-key roots made stale by documents with these ids. */
export function apiKeysMadeStaleBy(ids: Iterable<string>): string[] {
  const out = new Set<string>()
  for (const id of ids) {
    for (const [prefix, keys] of API_KEYS_BY_PREFIX) {
      if (id.startsWith(prefix)) for (const k of keys) out.add(k)
    }
  }
  return [...out].sort()
}

import { describe, expect, it } from 'vitest'
import { apiKeysMadeStaleBy } from './stale'

describe('apiKeysMadeStaleBy', () => {
  it('label assignments and rules make label and search answers stale', () => {
    expect(apiKeysMadeStaleBy(['label_file::f1'])).toEqual(['labels', 'search'])
    expect(apiKeysMadeStaleBy(['label_rule::r1', 'label_file::f2'])).toEqual(['labels', 'search'])
  })
  it('other documents make no API answer stale', () => {
    expect(apiKeysMadeStaleBy(['node::n1', 'status::n1', 'dir::x', 'label_filex'])).toEqual([])
    expect(apiKeysMadeStaleBy([])).toEqual([])
  })
})
